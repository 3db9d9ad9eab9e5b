//! Counting every call the SDK makes, as an interceptor, so that no code
//! path can make a call the count misses.

use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use crate::providers::Calls;

/// Counts operations once each, and attempts beyond the first as retries:
/// one interceptor on every client of a provider.
#[derive(Debug, Clone)]
pub struct Counter {
    calls: Arc<Mutex<Calls>>,
}

impl Counter {
    /// A counter adding to `calls`.
    pub fn new(calls: Arc<Mutex<Calls>>) -> Counter {
        Counter { calls }
    }
}

/// Which attempt of the current operation this is.
#[derive(Debug, Clone, Copy)]
struct Attempt(u32);

impl aws_smithy_types::config_bag::Storable for Attempt {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Attempt>;
}

impl Intercept for Counter {
    fn name(&self) -> &'static str {
        "gitgrant::aws::Counter"
    }

    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, op) = cfg.load::<Metadata>().map_or_else(
            || ("unknown".to_string(), "Unknown".to_string()),
            |m| (m.service().to_lowercase(), m.name().to_string()),
        );
        if let Ok(mut c) = self.calls.lock() {
            c.count(&service, &op);
        }
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let n = cfg.load::<Attempt>().map_or(0, |a| a.0) + 1;
        cfg.interceptor_state().store_put(Attempt(n));
        if n > 1
            && let Ok(mut c) = self.calls.lock()
        {
            c.retries += 1;
        }
        Ok(())
    }
}

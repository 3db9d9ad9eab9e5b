//! What every AWS provider shares: the SDK's configuration (credentials and
//! endpoint from the environment, gitgrant's retry policy and timeouts),
//! the call counter, and AWS errors in one readable line.

mod calls;

use crate::providers::first_line;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_iam::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

pub use calls::Counter;

/// Attempts per call, the first included (standard retry mode).
pub const MAX_ATTEMPTS: u32 = 6;

/// A failed read or change in AWS.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// An API call failed (after the SDK's retries, when it retries it).
    #[error("{operation} {what}: {detail}")]
    Call {
        /// The AWS operation.
        operation: &'static str,
        /// What it was for.
        what: String,
        /// AWS's error code and message, or what to do when AWS was not
        /// reached, in one line.
        detail: String,
    },
    /// The credentials are for another account than the policy names: the
    /// provider is left alone.
    #[error(
        "provider {provider}: the credentials are for account {actual}, but gitgrant.yaml says {expected}; nothing was read or changed there"
    )]
    WrongAccount {
        /// The provider's name.
        provider: String,
        /// The account in gitgrant.yaml.
        expected: String,
        /// The account the credentials belong to.
        actual: String,
    },
    /// A resource of our name exists outside this repository's ownership:
    /// it is someone else's and is not touched.
    #[error("{0}")]
    NotOurs(String),
}

/// What to set when no credentials were found.
const NO_CREDENTIALS: &str = "no AWS credentials were found: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY); \
in GitHub Actions, the web-identity variables that aws-actions/configure-aws-credentials sets; \
for a local endpoint, AWS_ENDPOINT_URL as well";

/// The endpoint the environment names, for messages.
fn endpoint() -> String {
    ["AWS_ENDPOINT_URL_IAM", "AWS_ENDPOINT_URL"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .map_or("AWS's endpoint".to_string(), |e| e)
}

/// An SDK error as one line that says what is wrong and what to do; the
/// whole chain of causes is logged at `-v`.
pub fn call_error<E, R>(
    operation: &'static str,
    what: impl Into<String>,
    e: SdkError<E, R>,
) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let what = what.into();
    let chain = DisplayErrorContext(&e).to_string();
    tracing::info!("{operation} {what}: {chain}");
    let detail = match &e {
        SdkError::ServiceError(_) | SdkError::ResponseError(_) => match (e.code(), e.message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_string(),
            _ => first_line(&chain),
        },
        _ if chain.to_lowercase().contains("no credentials")
            || chain.contains("CredentialsNotLoaded")
            || chain.to_lowercase().contains("credentials provider") =>
        {
            NO_CREDENTIALS.to_string()
        }
        _ if chain.to_lowercase().contains("timed out") => format!(
            "{} did not answer in time (reaching it, or assuming the provider's assume_role); try again, or check AWS_ENDPOINT_URL",
            endpoint()
        ),
        SdkError::TimeoutError(_) => format!(
            "{} did not answer in time; try again, or check AWS_ENDPOINT_URL",
            endpoint()
        ),
        SdkError::DispatchFailure(d) if d.is_timeout() => format!(
            "{} did not answer in time; try again, or check AWS_ENDPOINT_URL",
            endpoint()
        ),
        SdkError::DispatchFailure(d) if d.is_io() => format!(
            "could not connect to {}: check the network, or AWS_ENDPOINT_URL for a local endpoint",
            endpoint()
        ),
        _ => first_line(&chain),
    };
    AwsError::Call {
        operation,
        what,
        detail,
    }
}

/// How to reach AWS: what the environment gives (credentials, endpoint),
/// with gitgrant's retry policy and timeouts.
pub async fn base_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        // IAM is global; the SDK still signs for a region.
        .region(
            aws_config::meta::region::RegionProviderChain::default_provider()
                .or_else(Region::from_static("us-east-1")),
        )
        // Standard mode retries throttling, 5xx and dropped connections
        // with jittered backoff; adaptive mode is never used.
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(30))
                .build(),
        )
        .load()
        .await
}

/// One AWS account as a provider reaches it: the SDK configuration with
/// the provider's credentials (its `assume_role` assumed when it has one),
/// checked to belong to the provider's account, and the count of calls
/// every client built from it adds to.
#[derive(Debug, Clone)]
pub struct Account {
    /// The configuration clients are built from.
    pub config: SdkConfig,
    /// Calls made, by every client of this account.
    pub calls: std::sync::Arc<std::sync::Mutex<crate::providers::Calls>>,
}

impl Account {
    /// Reaches `provider`'s account and checks with STS that the
    /// credentials are for it; a provider whose credentials are for
    /// another account is left alone.
    pub async fn connect(
        base: &SdkConfig,
        provider: &crate::policy::Provider,
    ) -> Result<Account, AwsError> {
        let calls = std::sync::Arc::new(std::sync::Mutex::new(crate::providers::Calls::default()));
        let mut config = base.clone();
        if let Some(role) = assume_role(provider) {
            let creds = aws_config::sts::AssumeRoleProvider::builder(role)
                .session_name("gitgrant-reconcile")
                .configure(base)
                .build()
                .await;
            config = config
                .into_builder()
                .credentials_provider(aws_sdk_iam::config::SharedCredentialsProvider::new(creds))
                .build();
        }
        let account = Account { config, calls };
        let sts = aws_sdk_sts::config::Builder::from(&account.config)
            .interceptor(account.counter())
            .build();
        let who = aws_sdk_sts::Client::from_conf(sts)
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| {
                call_error(
                    "GetCallerIdentity",
                    format!("for provider {}", provider.name),
                    e,
                )
            })?;
        let actual = who.account().unwrap_or_default();
        if actual != self::account(provider) {
            return Err(AwsError::WrongAccount {
                provider: provider.name.clone(),
                expected: self::account(provider).to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(account)
    }

    /// The interceptor that counts a client's calls into this account's.
    pub fn counter(&self) -> Counter {
        Counter::new(self.calls.clone())
    }

    /// The calls made so far.
    pub fn calls(&self) -> crate::providers::Calls {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

/// The AWS account of a provider of an AWS kind (empty for another kind,
/// which validation refuses `account` to).
pub fn account(provider: &crate::policy::Provider) -> &str {
    provider.keys.aws_iam.account.as_deref().unwrap_or_default()
}

/// The role the reconciler assumes to manage a provider of an AWS kind.
pub fn assume_role(provider: &crate::policy::Provider) -> Option<&str> {
    provider.keys.aws_iam.assume_role.as_deref()
}

/// Whether `kind` is one of the AWS kinds, whose providers name an
/// `account` (and may name an `assume_role`).
pub fn is_aws(kind: crate::policy::ProviderType) -> bool {
    use crate::policy::ProviderType;
    matches!(kind, ProviderType::AwsIam | ProviderType::AwsIdentityCenter)
}

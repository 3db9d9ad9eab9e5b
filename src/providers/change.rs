//! A change of any kind, as the plan holds it: each kind's own change,
//! with what the plan and the run ask of it forwarded to the kind.

use serde::Serialize;

use crate::plan::terms::{Action, KindChange, RevokeReason};

macro_rules! change {
    ($($(#[$doc:meta])* $kind:ident: $folder:ident = $name:literal,)*) => {
        /// One change to make, in the provider kind's own terms. The JSON is
        /// the kind's change as it is (`action`, and what it acts on).
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(untagged)]
        pub enum Change {
            $($(#[$doc])* $kind(super::$folder::Change),)*
        }

        impl Change {
            /// The kind's own change.
            fn kind(&self) -> &dyn KindChange {
                match self {
                    $(Change::$kind(c) => c,)*
                }
            }
        }
    };
}

super::registry::kinds!(change);

impl Change {
    /// The provider the change is made in.
    pub fn provider(&self) -> &str {
        self.kind().provider()
    }

    /// The grant it is for, or the resource's name when no grant is known.
    pub fn grant(&self) -> &str {
        self.kind().grant()
    }

    /// When it is applied relative to the others, lowest first.
    pub fn apply_order(&self) -> u8 {
        self.kind().apply_order()
    }

    /// What the change does.
    pub fn action(&self) -> Action {
        self.kind().action()
    }

    /// Whether it is a session fence, not a grant's own access.
    pub fn is_fence(&self) -> bool {
        self.action() == Action::Fence
    }

    /// Why a revocation happens; `None` for a grant or an update.
    pub fn revoke_reason(&self) -> Option<RevokeReason> {
        self.kind().revoke_reason()
    }

    /// Whether it repairs tampering (drift): a security event.
    pub fn is_drift(&self) -> bool {
        self.kind().is_drift()
    }

    /// The change in one line, as the plan and the run's summary show it.
    pub fn line(&self) -> String {
        self.kind().line()
    }

    /// `+` for a grant, `~` for an update, `-` for a revocation.
    pub fn sign(&self) -> char {
        self.kind().sign()
    }

    /// The change in words, without its sign.
    pub fn text(&self) -> String {
        self.kind().text()
    }
}

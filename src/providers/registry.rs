//! The one list of provider kinds: the only place outside the kinds' own
//! folders that names one. Each entry is a kind's variant name, its folder
//! (module) under `src/providers/`, and its `type` in `gitgrant.yaml`.
//!
//! The list is a macro so that every enum over the kinds (the provider's
//! type, a person's identity, what a run wants, reads, reaches and changes)
//! is written once, from it, with no catch-all arm: adding a kind is its
//! folder plus one line here. ARCHITECTURE.md says what the folder holds.

/// Hands the list of kinds to the macro `$then`, as
/// `#[doc] Variant: folder = "type",` entries.
macro_rules! kinds {
    ($then:ident) => {
        $then! {
            /// AWS IAM managed policies attached to users or roles.
            AwsIam: aws_iam = "aws-iam",
            /// IAM Identity Center permission sets assigned to Identity Store users
            /// in AWS accounts.
            AwsIdentityCenter: aws_identity_center = "aws-identity-center",
            /// Google Cloud IAM conditional role bindings on a project, folder
            /// or organization, which Google ends at the window's end.
            GcpIam: gcp_iam = "gcp-iam",
            /// Azure role assignments made through Privileged Identity
            /// Management schedule requests, which Azure ends at the window's end.
            AzurePim: azure_pim = "azure-pim",
            /// A role of the grant's own in a PostgreSQL database, granted to
            /// the person's login; a run ends it (PostgreSQL has no timed grant).
            Postgres: postgres = "postgres",
        }
    };
}

pub(crate) use kinds;

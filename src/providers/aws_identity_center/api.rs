//! The adapter: reads and writes IAM Identity Center with aws-sdk-ssoadmin
//! and aws-sdk-identitystore, in the instance's account and region.
//!
//! State is read in pages: `ListPermissionSets`, then per permission set
//! `DescribePermissionSet` (the only way to its name and description);
//! only for ours the inline policy, attachments, provisioned accounts and
//! assignments. Subjects are resolved once per run with `GetUserId`.
//! Asynchronous requests are followed to `SUCCEEDED` or `FAILED` with a
//! bounded wait; `ConflictException` (one update per account at a time)
//! is retried.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_config::{Region, SdkConfig};
use aws_sdk_identitystore::types::{AlternateIdentifier, UniqueAttribute};
use aws_sdk_ssoadmin::error::ProvideErrorMetadata;
use aws_sdk_ssoadmin::types::{
    CustomerManagedPolicyReference, PrincipalType, ProvisionTargetType, StatusValues, TargetType,
};
use aws_smithy_types::Document;

use super::config::CustomerManagedPolicy;
use super::document;
use super::plan::{Assignment, Change, Observation, Observed};
use crate::policy::{Identity, Policy, Provider as ProviderConfig};
use crate::providers::aws::{Account, AwsError, call_error};
use crate::providers::{Calls, Provider};

/// How long one asynchronous request is followed before the change fails.
const WAIT: Duration = Duration::from_secs(120);
/// Attempts of a write refused with `ConflictException`.
const CONFLICT_ATTEMPTS: u32 = 8;

/// One Identity Center instance, reached.
#[derive(Debug)]
pub struct AwsIdentityCenter {
    name: String,
    repository: String,
    instance: String,
    store: String,
    account: Account,
    admin: aws_sdk_ssoadmin::Client,
    identity: aws_sdk_identitystore::Client,
    /// The Identity Store user names the policy maps people to here.
    users: BTreeSet<String>,
    /// The accounts each role names, so assignments are looked for there
    /// as well as where a permission set is provisioned.
    role_accounts: BTreeMap<String, Vec<String>>,
}

impl AwsIdentityCenter {
    /// Reaches `provider`'s instance for the access repository of `policy`.
    pub async fn connect(
        base: &SdkConfig,
        policy: &Policy,
        provider: &ProviderConfig,
    ) -> Result<AwsIdentityCenter, AwsError> {
        let Some(ic) = provider.keys.aws_identity_center.instance() else {
            return Err(AwsError::NotOurs(format!(
                "provider {} names no Identity Center instance",
                provider.name
            )));
        };
        let account = Account::connect(base, provider).await?;
        let region = Region::new(ic.region.clone());
        let admin = aws_sdk_ssoadmin::Client::from_conf(
            aws_sdk_ssoadmin::config::Builder::from(&account.config)
                .region(region.clone())
                .interceptor(account.counter())
                .build(),
        );
        let identity = aws_sdk_identitystore::Client::from_conf(
            aws_sdk_identitystore::config::Builder::from(&account.config)
                .region(region)
                .interceptor(account.counter())
                .build(),
        );
        let users = policy
            .people
            .values()
            .filter_map(|p| match p.identity_on(provider) {
                Some(Identity::AwsIdentityCenter(super::config::Identity::User(u))) => {
                    Some(u.clone())
                }
                _ => None,
            })
            .collect();
        let role_accounts = policy
            .roles
            .values()
            .filter(|r| r.providers.contains(&provider.name))
            .map(|r| (r.name.clone(), r.keys.aws_identity_center.accounts.clone()))
            .collect();
        Ok(AwsIdentityCenter {
            name: provider.name.clone(),
            repository: policy.repository(),
            instance: ic.instance_arn.clone(),
            store: ic.identity_store_id.clone(),
            account,
            admin,
            identity,
            users,
            role_accounts,
        })
    }

    async fn user_ids(&self) -> Result<BTreeMap<String, String>, AwsError> {
        let mut out = BTreeMap::new();
        for user in &self.users {
            let id = AlternateIdentifier::UniqueAttribute(
                UniqueAttribute::builder()
                    .attribute_path("userName")
                    .attribute_value(Document::String(user.clone()))
                    .build()
                    .map_err(|e| AwsError::NotOurs(e.to_string()))?,
            );
            match self
                .identity
                .get_user_id()
                .identity_store_id(&self.store)
                .alternate_identifier(id)
                .send()
                .await
            {
                Ok(r) => {
                    out.insert(user.clone(), r.user_id().to_string());
                }
                Err(e) if e.code() == Some("ResourceNotFoundException") => {}
                Err(e) => return Err(call_error("GetUserId", user.clone(), e)),
            }
        }
        Ok(out)
    }

    async fn permission_set_arns(&self) -> Result<Vec<String>, AwsError> {
        let mut arns = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .admin
                .list_permission_sets()
                .instance_arn(&self.instance)
                .max_results(100)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| call_error("ListPermissionSets", &self.instance, e))?;
            arns.extend(page.permission_sets().iter().cloned());
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(arns);
            }
        }
    }

    /// The managed and customer-managed policies of a permission set,
    /// sorted.
    async fn attachments(
        &self,
        arn: &str,
    ) -> Result<(Vec<String>, Vec<CustomerManagedPolicy>), AwsError> {
        let mut managed_policies = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .admin
                .list_managed_policies_in_permission_set()
                .instance_arn(&self.instance)
                .permission_set_arn(arn)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| call_error("ListManagedPoliciesInPermissionSet", arn, e))?;
            managed_policies.extend(
                page.attached_managed_policies()
                    .iter()
                    .filter_map(|p| p.arn().map(str::to_string)),
            );
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        managed_policies.sort();
        let mut customer_managed_policies = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .admin
                .list_customer_managed_policy_references_in_permission_set()
                .instance_arn(&self.instance)
                .permission_set_arn(arn)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| {
                    call_error("ListCustomerManagedPolicyReferencesInPermissionSet", arn, e)
                })?;
            customer_managed_policies.extend(page.customer_managed_policy_references().iter().map(
                |r| CustomerManagedPolicy {
                    name: r.name().to_string(),
                    path: r.path().unwrap_or("/").to_string(),
                },
            ));
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        customer_managed_policies.sort();
        Ok((managed_policies, customer_managed_policies))
    }

    /// What `attachments` finds, or nothing if it cannot be read.
    async fn attached(&self, arn: &str) -> (Vec<String>, Vec<CustomerManagedPolicy>) {
        self.attachments(arn).await.unwrap_or_default()
    }

    async fn observe_one(&self, arn: &str) -> Result<Option<Observed>, AwsError> {
        let d = self
            .admin
            .describe_permission_set()
            .instance_arn(&self.instance)
            .permission_set_arn(arn)
            .send()
            .await
            .map_err(|e| call_error("DescribePermissionSet", arn, e))?;
        let Some(ps) = d.permission_set() else {
            return Ok(None);
        };
        let name = ps.name().unwrap_or_default();
        let description = ps.description().unwrap_or_default();
        // A name of gitgrant's whose description is not ours may be ours
        // with its marker tampered with: read it, unclaimed (grant ""), and
        // let the plan claim it by the name its grant gets, or leave it.
        let grant = match document::owned_grant(&self.repository, name, description) {
            Some(g) => Some(g),
            None if name.starts_with(document::NAME_PREFIX) => None,
            None => return Ok(None),
        };
        let inline = self
            .admin
            .get_inline_policy_for_permission_set()
            .instance_arn(&self.instance)
            .permission_set_arn(arn)
            .send()
            .await
            .map_err(|e| call_error("GetInlinePolicyForPermissionSet", arn, e))?;
        let inline_policy = inline
            .inline_policy()
            .filter(|p| !p.is_empty())
            .map(|p| serde_json::from_str(p).unwrap_or(serde_json::Value::String(p.to_string())));
        let (managed_policies, customer_managed_policies) = self.attachments(arn).await?;
        // Where it is provisioned, and where its role says it should be.
        let mut accounts: BTreeSet<String> = match &grant {
            Some(g) => self.role_accounts.get(&g.role).cloned().unwrap_or_default(),
            None => self.role_accounts.values().flatten().cloned().collect(),
        }
        .into_iter()
        .collect();
        let mut token = None;
        loop {
            let page = self
                .admin
                .list_accounts_for_provisioned_permission_set()
                .instance_arn(&self.instance)
                .permission_set_arn(arn)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| call_error("ListAccountsForProvisionedPermissionSet", arn, e))?;
            accounts.extend(page.account_ids().iter().cloned());
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        let mut assignments = Vec::new();
        for account in &accounts {
            let mut token = None;
            loop {
                let page = self
                    .admin
                    .list_account_assignments()
                    .instance_arn(&self.instance)
                    .account_id(account)
                    .permission_set_arn(arn)
                    .set_next_token(token)
                    .send()
                    .await
                    .map_err(|e| call_error("ListAccountAssignments", arn, e))?;
                assignments.extend(page.account_assignments().iter().map(|a| Assignment {
                    account: a.account_id().unwrap_or(account).to_string(),
                    principal_type: super::plan::Principal::from_aws(
                        a.principal_type().map_or("USER", |t| t.as_str()),
                    ),
                    principal_id: a.principal_id().unwrap_or_default().to_string(),
                }));
                token = page.next_token().map(str::to_string);
                if token.is_none() {
                    break;
                }
            }
        }
        assignments.sort();
        Ok(Some(Observed {
            provider: self.name.clone(),
            arn: arn.to_string(),
            name: name.to_string(),
            grant: grant.map(|g| g.to_string()).unwrap_or_default(),
            description: description.to_string(),
            session_duration: ps.session_duration().map(str::to_string),
            inline_policy,
            managed_policies,
            customer_managed_policies,
            assignments,
        }))
    }

    /// Follows an asynchronous request until it succeeds or fails.
    async fn wait<F, Fut>(
        &self,
        what: &str,
        first: (Option<StatusValues>, Option<String>),
        mut poll: F,
    ) -> Result<(), AwsError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<
                Output = Result<(Option<StatusValues>, Option<String>), AwsError>,
            >,
    {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut pause = Duration::from_millis(200);
        // The request's own answer is the first look; AWS is asked again
        // only while it is in progress.
        let mut next = Some(first);
        loop {
            let (status, reason) = match next.take() {
                Some(f) => f,
                None => poll().await?,
            };
            match status {
                Some(StatusValues::Succeeded) => return Ok(()),
                Some(StatusValues::Failed) => {
                    return Err(AwsError::Call {
                        operation: "status",
                        what: what.to_string(),
                        detail: format!(
                            "FAILED: {}",
                            reason.unwrap_or_else(|| "AWS gave no reason".into())
                        ),
                    });
                }
                _ if tokio::time::Instant::now() >= deadline => {
                    return Err(AwsError::Call {
                        operation: "status",
                        what: what.to_string(),
                        detail: format!(
                            "still IN_PROGRESS after {}s; the next run checks again",
                            WAIT.as_secs()
                        ),
                    });
                }
                _ => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    async fn assign(&self, arn: &str, account: &str, user_id: &str) -> Result<(), AwsError> {
        let what = format!("{arn} in account {account}");
        let r = conflicted(|| {
            self.admin
                .create_account_assignment()
                .instance_arn(&self.instance)
                .target_id(account)
                .target_type(TargetType::AwsAccount)
                .permission_set_arn(arn)
                .principal_type(PrincipalType::User)
                .principal_id(user_id)
                .send()
        })
        .await
        .map_err(|e| call_error("CreateAccountAssignment", what.clone(), e))?;
        let Some(status) = r.account_assignment_creation_status() else {
            return Ok(());
        };
        let id = status.request_id().unwrap_or_default().to_string();
        let first = (
            status.status().cloned(),
            status.failure_reason().map(str::to_string),
        );
        self.wait(&format!("CreateAccountAssignment {what}"), first, || {
            let id = id.clone();
            async move {
                let s = self
                    .admin
                    .describe_account_assignment_creation_status()
                    .instance_arn(&self.instance)
                    .account_assignment_creation_request_id(&id)
                    .send()
                    .await
                    .map_err(|e| {
                        call_error("DescribeAccountAssignmentCreationStatus", id.clone(), e)
                    })?;
                let s = s.account_assignment_creation_status();
                Ok((
                    s.and_then(|s| s.status().cloned()),
                    s.and_then(|s| s.failure_reason().map(str::to_string)),
                ))
            }
        })
        .await
    }

    async fn unassign(&self, arn: &str, a: &Assignment) -> Result<(), AwsError> {
        let what = format!("{arn} in account {} for {}", a.account, a.principal_id);
        let r = conflicted(|| {
            self.admin
                .delete_account_assignment()
                .instance_arn(&self.instance)
                .target_id(&a.account)
                .target_type(TargetType::AwsAccount)
                .permission_set_arn(arn)
                .principal_type(PrincipalType::from(a.principal_type.as_aws()))
                .principal_id(&a.principal_id)
                .send()
        })
        .await;
        let r = gone(r).map_err(|e| call_error("DeleteAccountAssignment", what.clone(), e))?;
        let Some(status) = r
            .as_ref()
            .and_then(|r| r.account_assignment_deletion_status())
        else {
            return Ok(());
        };
        let id = status.request_id().unwrap_or_default().to_string();
        let first = (
            status.status().cloned(),
            status.failure_reason().map(str::to_string),
        );
        self.wait(&format!("DeleteAccountAssignment {what}"), first, || {
            let id = id.clone();
            async move {
                let s = self
                    .admin
                    .describe_account_assignment_deletion_status()
                    .instance_arn(&self.instance)
                    .account_assignment_deletion_request_id(&id)
                    .send()
                    .await
                    .map_err(|e| {
                        call_error("DescribeAccountAssignmentDeletionStatus", id.clone(), e)
                    })?;
                let s = s.account_assignment_deletion_status();
                Ok((
                    s.and_then(|s| s.status().cloned()),
                    s.and_then(|s| s.failure_reason().map(str::to_string)),
                ))
            }
        })
        .await
    }

    async fn put_inline(&self, arn: &str, policy: &serde_json::Value) -> Result<(), AwsError> {
        let text = crate::providers::aws_iam::document::minified(policy);
        conflicted(|| {
            self.admin
                .put_inline_policy_to_permission_set()
                .instance_arn(&self.instance)
                .permission_set_arn(arn)
                .inline_policy(&text)
                .send()
        })
        .await
        .map_err(|e| call_error("PutInlinePolicyToPermissionSet", arn, e))?;
        Ok(())
    }

    async fn attach(
        &self,
        arn: &str,
        managed: &[String],
        customer: &[CustomerManagedPolicy],
    ) -> Result<(), AwsError> {
        for m in managed {
            // Identity Center answers an attachment that is already there
            // with ConflictException too: a retried request whose answer
            // was lost made it. Then it is done.
            conflicted(|| async move {
                let r = self
                    .admin
                    .attach_managed_policy_to_permission_set()
                    .instance_arn(&self.instance)
                    .permission_set_arn(arn)
                    .managed_policy_arn(m)
                    .send()
                    .await
                    .map(|_| ());
                match r {
                    Err(e) if is_conflict(&e) && self.attached(arn).await.0.contains(m) => Ok(()),
                    r => r,
                }
            })
            .await
            .map_err(|e| {
                call_error(
                    "AttachManagedPolicyToPermissionSet",
                    format!("{m} to {arn}"),
                    e,
                )
            })?;
        }
        for c in customer {
            let reference = CustomerManagedPolicyReference::builder()
                .name(&c.name)
                .path(&c.path)
                .build()
                .map_err(|e| AwsError::NotOurs(e.to_string()))?;
            conflicted(|| async {
                let r = self
                    .admin
                    .attach_customer_managed_policy_reference_to_permission_set()
                    .instance_arn(&self.instance)
                    .permission_set_arn(arn)
                    .customer_managed_policy_reference(reference.clone())
                    .send()
                    .await
                    .map(|_| ());
                match r {
                    Err(e) if is_conflict(&e) && self.attached(arn).await.1.contains(c) => Ok(()),
                    r => r,
                }
            })
            .await
            .map_err(|e| {
                call_error(
                    "AttachCustomerManagedPolicyReferenceToPermissionSet",
                    format!("{}{} to {arn}", c.path, c.name),
                    e,
                )
            })?;
        }
        Ok(())
    }

    async fn provision(&self, arn: &str) -> Result<(), AwsError> {
        let r = conflicted(|| {
            self.admin
                .provision_permission_set()
                .instance_arn(&self.instance)
                .permission_set_arn(arn)
                .target_type(ProvisionTargetType::AllProvisionedAccounts)
                .send()
        })
        .await
        .map_err(|e| call_error("ProvisionPermissionSet", arn, e))?;
        let Some(status) = r.permission_set_provisioning_status() else {
            return Ok(());
        };
        let id = status.request_id().unwrap_or_default().to_string();
        let first = (
            status.status().cloned(),
            status.failure_reason().map(str::to_string),
        );
        self.wait(&format!("ProvisionPermissionSet {arn}"), first, || {
            let id = id.clone();
            async move {
                let s = self
                    .admin
                    .describe_permission_set_provisioning_status()
                    .instance_arn(&self.instance)
                    .provision_permission_set_request_id(&id)
                    .send()
                    .await
                    .map_err(|e| {
                        call_error("DescribePermissionSetProvisioningStatus", id.clone(), e)
                    })?;
                let s = s.permission_set_provisioning_status();
                Ok((
                    s.and_then(|s| s.status().cloned()),
                    s.and_then(|s| s.failure_reason().map(str::to_string)),
                ))
            }
        })
        .await
    }
}

/// Retries a write that Identity Center refuses with `ConflictException`
/// (another update of the same account is in progress), with backoff.
async fn conflicted<F, Fut, T, E, R>(
    mut call: F,
) -> Result<T, aws_sdk_ssoadmin::error::SdkError<E, R>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, aws_sdk_ssoadmin::error::SdkError<E, R>>>,
    E: ProvideErrorMetadata,
{
    let mut pause = Duration::from_millis(250);
    for _ in 1..CONFLICT_ATTEMPTS {
        match call().await {
            Err(e) if is_conflict(&e) => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(8));
            }
            other => return other,
        }
    }
    call().await
}

/// Whether Identity Center refused a write because another update of the
/// same permission set or account is in progress.
fn is_conflict<E: ProvideErrorMetadata, R>(e: &aws_sdk_ssoadmin::error::SdkError<E, R>) -> bool {
    e.code() == Some("ConflictException")
}

/// A removal's answer, with "it is not there" as success: a retried
/// request whose first answer was lost has already removed it.
fn gone<T, E: ProvideErrorMetadata, R>(
    r: Result<T, aws_sdk_ssoadmin::error::SdkError<E, R>>,
) -> Result<Option<T>, aws_sdk_ssoadmin::error::SdkError<E, R>> {
    match r {
        Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
        r => r.map(Some),
    }
}

impl Provider for AwsIdentityCenter {
    type Observation = Observation;
    type Change = Change;
    type Error = AwsError;

    fn name(&self) -> &str {
        &self.name
    }

    async fn observe(&self) -> Result<Observation, AwsError> {
        let users = self.user_ids().await?;
        let mut permission_sets = Vec::new();
        let arns = self.permission_set_arns().await?;
        for arn in &arns {
            permission_sets.extend(self.observe_one(arn).await?);
        }
        Ok(Observation {
            permission_sets,
            users,
            instance_permission_sets: arns.len(),
        })
    }

    async fn apply(&self, change: &Change) -> Result<(), AwsError> {
        match change {
            Change::Grant {
                desired: d,
                user_id,
            } => {
                let made = conflicted(|| {
                    self.admin
                        .create_permission_set()
                        .instance_arn(&self.instance)
                        .name(&d.name)
                        .description(&d.description)
                        .session_duration(&d.session_duration)
                        .send()
                })
                .await
                .map_err(|e| call_error("CreatePermissionSet", d.name.clone(), e))?;
                let arn = made
                    .permission_set()
                    .and_then(|p| p.permission_set_arn())
                    .unwrap_or_default()
                    .to_string();
                self.put_inline(&arn, &d.inline_policy).await?;
                self.attach(&arn, &d.managed_policies, &d.customer_managed_policies)
                    .await?;
                for account in &d.accounts {
                    self.assign(&arn, account, user_id).await?;
                }
                Ok(())
            }
            Change::Update {
                desired: d,
                observed: o,
                user_id,
                rewrite,
                attach,
                detach,
                attach_customer,
                detach_customer,
                assign,
                unassign,
                ..
            } => {
                // Assignments that are not the grant's go first: drift is
                // access that should not exist.
                for a in unassign {
                    self.unassign(&o.arn, a).await?;
                }
                let mut changed = false;
                if o.session_duration.as_deref() != Some(d.session_duration.as_str())
                    || o.description != d.description
                {
                    conflicted(|| {
                        self.admin
                            .update_permission_set()
                            .instance_arn(&self.instance)
                            .permission_set_arn(&o.arn)
                            .session_duration(&d.session_duration)
                            .description(&d.description)
                            .send()
                    })
                    .await
                    .map_err(|e| call_error("UpdatePermissionSet", o.arn.clone(), e))?;
                    changed = true;
                }
                if *rewrite && o.inline_policy.as_ref() != Some(&d.inline_policy) {
                    self.put_inline(&o.arn, &d.inline_policy).await?;
                    changed = true;
                }
                for m in detach {
                    let r = conflicted(|| {
                        self.admin
                            .detach_managed_policy_from_permission_set()
                            .instance_arn(&self.instance)
                            .permission_set_arn(&o.arn)
                            .managed_policy_arn(m)
                            .send()
                    })
                    .await;
                    gone(r).map_err(|e| {
                        call_error("DetachManagedPolicyFromPermissionSet", m.clone(), e)
                    })?;
                    changed = true;
                }
                for c in detach_customer {
                    let reference = CustomerManagedPolicyReference::builder()
                        .name(&c.name)
                        .path(&c.path)
                        .build()
                        .map_err(|e| AwsError::NotOurs(e.to_string()))?;
                    let r = conflicted(|| {
                        self.admin
                            .detach_customer_managed_policy_reference_from_permission_set()
                            .instance_arn(&self.instance)
                            .permission_set_arn(&o.arn)
                            .customer_managed_policy_reference(reference.clone())
                            .send()
                    })
                    .await;
                    gone(r).map_err(|e| {
                        call_error(
                            "DetachCustomerManagedPolicyReferenceFromPermissionSet",
                            c.name.clone(),
                            e,
                        )
                    })?;
                    changed = true;
                }
                if !attach.is_empty() || !attach_customer.is_empty() {
                    self.attach(&o.arn, attach, attach_customer).await?;
                    changed = true;
                }
                // A changed permission set reaches the accounts it is
                // provisioned in only when provisioned again.
                if changed && !o.assignments.is_empty() {
                    self.provision(&o.arn).await?;
                }
                for account in assign {
                    self.assign(&o.arn, account, user_id).await?;
                }
                Ok(())
            }
            Change::Revoke {
                observed: o, cut, ..
            } => {
                // Ended early: the window ends now in every account before
                // the assignments go, so no open session outlives the run.
                if let Some(cut) = cut {
                    self.put_inline(&o.arn, cut).await?;
                    self.provision(&o.arn).await?;
                }
                for a in &o.assignments {
                    self.unassign(&o.arn, a).await?;
                }
                let r = conflicted(|| {
                    self.admin
                        .delete_permission_set()
                        .instance_arn(&self.instance)
                        .permission_set_arn(&o.arn)
                        .send()
                })
                .await;
                gone(r).map_err(|e| call_error("DeletePermissionSet", o.arn.clone(), e))?;
                Ok(())
            }
        }
    }

    fn calls(&self) -> Calls {
        self.account.calls()
    }
}

//! The AWS IAM adapter: reads this repository's grant policies in pages and
//! applies the plan's changes with aws-sdk-iam, one write at a time.
//!
//! Ownership is the policy path (`/gitgrant/<owner>/<name>/`): only policies
//! under it are ever observed, so only they are ever changed or deleted.
//! Users, roles, groups and every other policy in the account are read,
//! never written — attaching and detaching our own policies aside.

use std::collections::{BTreeMap, BTreeSet};

use aws_config::SdkConfig;
use aws_sdk_iam::Client;
use aws_sdk_iam::error::ProvideErrorMetadata;
use aws_sdk_iam::types::{EntityType, SummaryKeyType, Tag};
use serde_json::Value;

use super::config::Identity;
use super::plan::{AttachQuota, Change, Desired, Observation, Observed};
use crate::policy::Provider as ProviderConfig;
use crate::providers::aws::{Account, AwsError, call_error};
use crate::providers::{Calls, Provider};

/// IAM's largest page.
pub const MAX_PAGE_SIZE: i32 = 1000;

/// One AWS account, managed through IAM.
#[derive(Debug)]
pub struct AwsIam {
    name: String,
    account: String,
    path: String,
    page_size: i32,
    client: Client,
    reach: Account,
}

impl AwsIam {
    /// Connects to the account of `provider` (assuming its `assume_role`
    /// when it has one) and checks that the credentials are for that
    /// account. `path` is this repository's ownership path.
    pub async fn connect(
        base: &SdkConfig,
        provider: &ProviderConfig,
        path: &str,
        page_size: i32,
    ) -> Result<AwsIam, AwsError> {
        let reach = Account::connect(base, provider).await?;
        let iam = aws_sdk_iam::config::Builder::from(&reach.config)
            .interceptor(reach.counter())
            .build();
        Ok(AwsIam {
            name: provider.name.clone(),
            account: crate::providers::aws::account(provider).to_string(),
            path: path.to_string(),
            page_size: page_size.clamp(1, MAX_PAGE_SIZE),
            client: Client::from_conf(iam),
            reach,
        })
    }

    fn arn(&self, name: &str) -> String {
        format!("arn:aws:iam::{}:policy{}{name}", self.account, self.path)
    }

    fn description(grant: &str) -> String {
        format!("gitgrant grant {grant}")
    }

    async fn quota(&self) -> Result<AttachQuota, AwsError> {
        let summary = self
            .client
            .get_account_summary()
            .send()
            .await
            .map_err(|e| call_error("GetAccountSummary", "", e))?;
        let map = summary.summary_map();
        let get = |k: SummaryKeyType, default: usize| {
            map.and_then(|m| m.get(&k))
                .and_then(|n| usize::try_from(*n).ok())
                .filter(|n| *n > 0)
                .unwrap_or(default)
        };
        let d = AttachQuota::default();
        Ok(AttachQuota {
            per_user: get(SummaryKeyType::AttachedPoliciesPerUserQuota, d.per_user),
            per_role: get(SummaryKeyType::AttachedPoliciesPerRoleQuota, d.per_role),
        })
    }

    async fn attach(&self, identity: &Identity, arn: &str) -> Result<(), AwsError> {
        let what = || format!("{arn} to {}", identity.describe());
        match identity {
            Identity::User(u) => self
                .client
                .attach_user_policy()
                .user_name(u)
                .policy_arn(arn)
                .send()
                .await
                .map(drop)
                .map_err(|e| call_error("AttachUserPolicy", what(), e)),
            Identity::Role(r) => self
                .client
                .attach_role_policy()
                .role_name(r)
                .policy_arn(arn)
                .send()
                .await
                .map(drop)
                .map_err(|e| call_error("AttachRolePolicy", what(), e)),
        }
    }

    /// Detaches; an attachment already gone is no error.
    async fn detach(&self, identity: &Identity, arn: &str) -> Result<(), AwsError> {
        let what = || format!("{arn} from {}", identity.describe());
        let gone = |code: Option<&str>| code == Some("NoSuchEntity");
        match identity {
            Identity::User(u) => match self
                .client
                .detach_user_policy()
                .user_name(u)
                .policy_arn(arn)
                .send()
                .await
            {
                Err(e) if !gone(e.code()) => Err(call_error("DetachUserPolicy", what(), e)),
                _ => Ok(()),
            },
            Identity::Role(r) => match self
                .client
                .detach_role_policy()
                .role_name(r)
                .policy_arn(arn)
                .send()
                .await
            {
                Err(e) if !gone(e.code()) => Err(call_error("DetachRolePolicy", what(), e)),
                _ => Ok(()),
            },
        }
    }

    async fn delete_version(&self, arn: &str, version: &str) -> Result<(), AwsError> {
        match self
            .client
            .delete_policy_version()
            .policy_arn(arn)
            .version_id(version)
            .send()
            .await
        {
            Err(e) if e.code() != Some("NoSuchEntity") => Err(call_error(
                "DeletePolicyVersion",
                format!("{version} of {arn}"),
                e,
            )),
            _ => Ok(()),
        }
    }

    fn tags(d: &Desired) -> Vec<Tag> {
        d.tags
            .iter()
            .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
            .collect()
    }

    async fn grant(&self, d: &Desired) -> Result<(), AwsError> {
        let arn = self.arn(&d.name);
        let created = self
            .client
            .create_policy()
            .policy_name(&d.name)
            .path(&self.path)
            .description(Self::description(&d.grant))
            .policy_document(super::document::minified(&d.document))
            .set_tags(Some(Self::tags(d)))
            .send()
            .await;
        match created {
            Ok(_) => {}
            // A previous attempt whose answer was lost, or a run stopped
            // between creating and attaching: complete it when the policy
            // is under our path and records this grant; otherwise it is
            // someone else's, or forged, and is never adopted.
            Err(e) if e.code() == Some("EntityAlreadyExists") => {
                let ours = self.client.get_policy().policy_arn(&arn).send().await;
                match ours {
                    Ok(found) => {
                        let recorded = found.policy().and_then(|p| p.description());
                        if recorded != Some(Self::description(&d.grant).as_str()) {
                            return Err(AwsError::NotOurs(format!(
                                "a policy named {} exists under {} in {} and records {:?}, not grant {}; gitgrant does not adopt it",
                                d.name,
                                self.path,
                                self.name,
                                recorded.unwrap_or_default(),
                                d.grant
                            )));
                        }
                        // Make sure it carries this window, not an older one.
                        self.client
                            .create_policy_version()
                            .policy_arn(&arn)
                            .policy_document(super::document::minified(&d.document))
                            .set_as_default(true)
                            .send()
                            .await
                            .map_err(|e| call_error("CreatePolicyVersion", &arn, e))?;
                    }
                    Err(e) if e.code() == Some("NoSuchEntity") => {
                        return Err(AwsError::NotOurs(format!(
                            "a policy named {} already exists outside {} in {}; it is not this repository's and gitgrant leaves it alone",
                            d.name, self.path, self.name
                        )));
                    }
                    Err(e) => return Err(call_error("GetPolicy", &arn, e)),
                }
            }
            Err(e) => return Err(call_error("CreatePolicy", &d.name, e)),
        }
        self.attach(&d.attach_to, &arn).await
    }

    async fn revoke(&self, o: &Observed) -> Result<(), AwsError> {
        for identity in &o.attached {
            self.detach(identity, &o.arn).await?;
        }
        for group in &o.groups {
            self.detach_group(group, &o.arn).await?;
        }
        for version in &o.old_versions {
            self.delete_version(&o.arn, version).await?;
        }
        match self.client.delete_policy().policy_arn(&o.arn).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("NoSuchEntity") => Ok(()),
            // Attached to something the state read does not show (an
            // attachment made since): find every entity, detach, retry.
            Err(e) if e.code() == Some("DeleteConflict") => {
                self.detach_everything(&o.arn).await?;
                self.client
                    .delete_policy()
                    .policy_arn(&o.arn)
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| call_error("DeletePolicy", &o.arn, e))
            }
            Err(e) => Err(call_error("DeletePolicy", &o.arn, e)),
        }
    }

    /// Detaches from a group; an attachment already gone is no error.
    async fn detach_group(&self, group: &str, arn: &str) -> Result<(), AwsError> {
        match self
            .client
            .detach_group_policy()
            .group_name(group)
            .policy_arn(arn)
            .send()
            .await
        {
            Err(e) if e.code() != Some("NoSuchEntity") => Err(call_error(
                "DetachGroupPolicy",
                format!("{arn} from group {group}"),
                e,
            )),
            _ => Ok(()),
        }
    }

    async fn detach_everything(&self, arn: &str) -> Result<(), AwsError> {
        let mut pages = self
            .client
            .list_entities_for_policy()
            .policy_arn(arn)
            .max_items(self.page_size)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| call_error("ListEntitiesForPolicy", arn, e))?;
            for u in page.policy_users() {
                if let Some(n) = u.user_name() {
                    self.detach(&Identity::User(n.into()), arn).await?;
                }
            }
            for r in page.policy_roles() {
                if let Some(n) = r.role_name() {
                    self.detach(&Identity::Role(n.into()), arn).await?;
                }
            }
            for g in page.policy_groups() {
                if let Some(n) = g.group_name() {
                    self.detach_group(n, arn).await?;
                }
            }
        }
        Ok(())
    }

    /// Versions gitgrant did not keep deleted, a new default version, the
    /// previous default deleted (so the policy holds one version: the one
    /// gitgrant wrote), then attachments.
    async fn update(&self, change: &Change) -> Result<(), AwsError> {
        let Change::Update {
            desired: d,
            observed: o,
            document,
            prune,
            attach,
            detach,
            detach_groups,
            ..
        } = change
        else {
            return Ok(());
        };
        for version in prune {
            self.delete_version(&o.arn, version).await?;
        }
        if *document {
            self.client
                .create_policy_version()
                .policy_arn(&o.arn)
                .policy_document(super::document::minified(&d.document))
                .set_as_default(true)
                .send()
                .await
                .map_err(|e| call_error("CreatePolicyVersion", &o.arn, e))?;
            if !o.default_version.is_empty() {
                self.delete_version(&o.arn, &o.default_version).await?;
            }
            self.client
                .tag_policy()
                .policy_arn(&o.arn)
                .set_tags(Some(Self::tags(d)))
                .send()
                .await
                .map_err(|e| call_error("TagPolicy", &o.arn, e))?;
        }
        for identity in attach {
            self.attach(identity, &o.arn).await?;
        }
        for identity in detach {
            self.detach(identity, &o.arn).await?;
        }
        for group in detach_groups {
            self.detach_group(group, &o.arn).await?;
        }
        Ok(())
    }
}

/// A policy document as IAM returns it: URL-encoded JSON.
fn decode_document(raw: &str) -> Value {
    let decoded = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
    serde_json::from_str(&decoded)
        .or_else(|_| serde_json::from_str(raw))
        .unwrap_or(Value::Null)
}

/// The grant a policy's description names.
fn grant_of(description: Option<&str>) -> Option<String> {
    description?
        .strip_prefix("gitgrant grant ")
        .map(str::to_string)
}

impl Provider for AwsIam {
    type Observation = Observation;
    type Change = Change;
    type Error = AwsError;

    fn name(&self) -> &str {
        &self.name
    }

    /// `GetAccountSummary` once, then `GetAccountAuthorizationDetails` for
    /// users, roles, groups and local managed policies, in pages of
    /// `page_size`: documents and attachments without one call per grant.
    async fn observe(&self) -> Result<Observation, AwsError> {
        let quota = self.quota().await?;
        let mut pages = self
            .client
            .get_account_authorization_details()
            .filter(EntityType::User)
            .filter(EntityType::Role)
            .filter(EntityType::Group)
            .filter(EntityType::LocalManagedPolicy)
            .max_items(self.page_size)
            .into_paginator()
            .send();
        let mut identities = BTreeMap::new();
        let mut attached: BTreeMap<String, Vec<Identity>> = BTreeMap::new();
        let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut policies = Vec::new();
        let mut roles = BTreeMap::new();
        // Whether each customer-managed policy can write IAM, and the
        // roles with the managed policies they carry.
        let mut writing: BTreeMap<String, bool> = BTreeMap::new();
        let mut role_policies: Vec<(String, Vec<String>)> = Vec::new();
        let mut iam_writers = BTreeSet::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| call_error("GetAccountAuthorizationDetails", "", e))?;
            let mut note = |identity: Identity, arns: Vec<&str>| {
                for arn in &arns {
                    attached
                        .entry(arn.to_string())
                        .or_default()
                        .push(identity.clone());
                }
                identities.insert(identity, arns.len());
            };
            for u in page.user_detail_list() {
                let arns = u
                    .attached_managed_policies()
                    .iter()
                    .filter_map(|p| p.policy_arn())
                    .collect();
                note(
                    Identity::User(u.user_name().unwrap_or_default().into()),
                    arns,
                );
            }
            for r in page.role_detail_list() {
                if let (Some(name), Some(id)) = (r.role_name(), r.role_id()) {
                    roles.insert(name.to_string(), id.to_string());
                    let inline = r.role_policy_list().iter().any(|p| {
                        p.policy_document().is_some_and(|d| {
                            super::statements::document_writes_iam(&decode_document(d))
                        })
                    });
                    if inline {
                        iam_writers.insert(name.to_string());
                    }
                    role_policies.push((
                        name.to_string(),
                        r.attached_managed_policies()
                            .iter()
                            .filter_map(|p| p.policy_arn().map(str::to_string))
                            .collect(),
                    ));
                }
                let arns = r
                    .attached_managed_policies()
                    .iter()
                    .filter_map(|p| p.policy_arn())
                    .collect();
                note(
                    Identity::Role(r.role_name().unwrap_or_default().into()),
                    arns,
                );
            }
            for g in page.group_detail_list() {
                for p in g.attached_managed_policies() {
                    if let Some(arn) = p.policy_arn() {
                        groups
                            .entry(arn.to_string())
                            .or_default()
                            .push(g.group_name().unwrap_or_default().to_string());
                    }
                }
            }
            for p in page.policies() {
                let default = p
                    .policy_version_list()
                    .iter()
                    .find(|v| v.is_default_version() || v.version_id() == p.default_version_id());
                if let (Some(arn), Some(doc)) = (p.arn(), default.and_then(|v| v.document())) {
                    let writes = super::statements::document_writes_iam(&decode_document(doc));
                    writing.insert(arn.to_string(), writes);
                }
                // Ownership is the path, exactly: not a prefix of another
                // repository's, not the bare /gitgrant/.
                if p.path() != Some(self.path.as_str()) {
                    continue;
                }
                let default = p.default_version_id();
                let mut versions: Vec<_> = p.policy_version_list().iter().collect();
                versions.sort_by_key(|v| v.create_date().map(|d| (d.secs(), d.subsec_nanos())));
                let is_default = |v: &&aws_sdk_iam::types::PolicyVersion| {
                    v.is_default_version() || (default.is_some() && v.version_id() == default)
                };
                let current = versions.iter().find(|v| is_default(v));
                let document = current
                    .and_then(|v| v.document())
                    .map(decode_document)
                    .unwrap_or(Value::Null);
                let default_version = current
                    .and_then(|v| v.version_id())
                    .or(default)
                    .unwrap_or_default()
                    .to_string();
                let old_versions = versions
                    .iter()
                    .filter(|v| !is_default(v))
                    .filter_map(|v| v.version_id().map(str::to_string))
                    .collect();
                let arn = p.arn().unwrap_or_default();
                // The ARN ends in the name; some implementations omit the
                // name field itself.
                let name = p
                    .policy_name()
                    .or_else(|| arn.strip_prefix(&self.arn("")))
                    .unwrap_or_default();
                policies.push(Observed {
                    provider: self.name.clone(),
                    name: name.to_string(),
                    path: self.path.clone(),
                    arn: arn.to_string(),
                    grant: grant_of(p.description()),
                    document,
                    default_version,
                    attached: Vec::new(),
                    groups: Vec::new(),
                    old_versions,
                });
            }
        }
        for p in &mut policies {
            if let Some(who) = attached.remove(&p.arn) {
                p.attached = who;
            }
            p.attached.sort();
            if let Some(g) = groups.remove(&p.arn) {
                p.groups = g;
            }
            p.groups.sort();
        }
        policies.sort_by(|a, b| a.name.cmp(&b.name));
        const ADMIN: &[&str] = &[
            "arn:aws:iam::aws:policy/AdministratorAccess",
            "arn:aws:iam::aws:policy/IAMFullAccess",
        ];
        for (role, arns) in role_policies {
            if arns
                .iter()
                .any(|a| ADMIN.contains(&a.as_str()) || writing.get(a) == Some(&true))
            {
                iam_writers.insert(role);
            }
        }
        Ok(Observation {
            policies,
            identities,
            quota,
            roles,
            iam_writers,
        })
    }

    async fn apply(&self, change: &Change) -> Result<(), AwsError> {
        match change {
            Change::Grant { desired, .. } => self.grant(desired).await,
            Change::Update { .. } => self.update(change).await,
            Change::Revoke { observed, .. } => self.revoke(observed).await,
        }
    }

    fn calls(&self) -> Calls {
        self.reach.calls()
    }
}

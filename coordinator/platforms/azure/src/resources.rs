//! The Azure resources every function shares: a resource group and a storage account (the
//! benchmarks' container lives in it, and it backs the function apps' `AzureWebJobsStorage`).
//!
//! Their names derive from a `resources_id`: the config's, else the `deployment_id` of the
//! resource log (`<cache>/resources/azure-<region>.json`, 8 random hex characters), because
//! storage account names are global across Azure. Whatever sebs creates is recorded in that log
//! (`sebs resources list|remove`).

use anyhow::{bail, Context, Result};
use reqwest::Method;
use sebs_platform::{Resource, ResourceLog};
use serde_json::json;

use crate::arm::{status_of, Arm};
use crate::config::AzureConfig;

pub const GROUPS_API: &str = "2021-04-01";
pub const STORAGE_API: &str = "2023-01-01";

/// The shared resources of one sebs deployment on Azure.
#[derive(Clone, Debug, PartialEq)]
pub struct AzureResources {
    pub resources_id: String,
    pub region: String,
    pub resource_group: String,
    pub storage_account: String,
}

impl AzureResources {
    /// The config's names win; else names derived from the log's deployment id.
    pub fn resolve(config: &AzureConfig, log: &ResourceLog) -> Self {
        let section = &config.resources;
        let resources_id = section
            .resources_id
            .clone()
            .unwrap_or_else(|| log.deployment_id().to_string());
        AzureResources {
            resource_group: section
                .resource_group
                .clone()
                .unwrap_or_else(|| format!("sebs_resource_group_{resources_id}")),
            storage_account: section
                .storage_account
                .clone()
                .unwrap_or_else(|| format!("sebsstorage{resources_id}")),
            region: config.region.clone(),
            resources_id,
        }
    }

    pub fn group_path(&self, arm: &Arm) -> String {
        format!(
            "{}/resourceGroups/{}",
            arm.subscription_path(),
            self.resource_group
        )
    }

    pub fn account_path(&self, arm: &Arm) -> String {
        format!(
            "{}/providers/Microsoft.Storage/storageAccounts/{}",
            self.group_path(arm),
            self.storage_account
        )
    }

    /// Creates the resource group and the storage account unless they exist, recording what it
    /// created.
    pub async fn ensure(&self, arm: &Arm, log: &ResourceLog) -> Result<()> {
        let group = self.group_path(arm);
        if arm.get_opt(&group, GROUPS_API).await?.is_none() {
            tracing::info!(group = %self.resource_group, region = %self.region, "creating azure resource group");
            arm.call_and_wait(
                Method::PUT,
                &group,
                GROUPS_API,
                Some(&json!({"location": self.region})),
            )
            .await
            .with_context(|| format!("creating resource group {}", self.resource_group))?;
            log.record(Resource::new(
                "resource-group",
                &self.resource_group,
                Some(group),
            ))?;
        }
        let account = self.account_path(arm);
        if arm.get_opt(&account, STORAGE_API).await?.is_none() {
            tracing::info!(account = %self.storage_account, "creating azure storage account");
            let body = json!({
                "location": self.region,
                "kind": "StorageV2",
                "sku": {"name": "Standard_LRS"},
                "properties": {
                    "minimumTlsVersion": "TLS1_2",
                    "allowBlobPublicAccess": false,
                    "supportsHttpsTrafficOnly": true
                }
            });
            let created = arm
                .call_and_wait(Method::PUT, &account, STORAGE_API, Some(&body))
                .await;
            if let Err(e) = created {
                if status_of(&e) == Some(409) {
                    bail!(
                        "storage account name `{}` is taken elsewhere in Azure ({e}); choose another \
                         deployment.azure.resources.resources_id or storage_account",
                        self.storage_account
                    );
                }
                return Err(e.context(format!("creating storage account {}", self.storage_account)));
            }
            log.record(Resource::new(
                "storage-account",
                &self.storage_account,
                Some(account),
            ))?;
        }
        Ok(())
    }

    /// The storage account's first key (`listKeys`).
    pub async fn storage_key(&self, arm: &Arm) -> Result<String> {
        let reply = arm
            .call(
                Method::POST,
                &format!("{}/listKeys", self.account_path(arm)),
                STORAGE_API,
                None,
            )
            .await
            .with_context(|| {
                format!(
                    "reading the keys of storage account {}",
                    self.storage_account
                )
            })?;
        reply.body["keys"][0]["value"]
            .as_str()
            .map(str::to_string)
            .with_context(|| {
                format!(
                    "storage account {} listed no keys (is shared-key access disabled on it?)",
                    self.storage_account
                )
            })
    }
}

/// The connection string functions use to reach the storage account.
pub fn connection_string(account: &str, key: &str, blob_endpoint: &str) -> String {
    format!(
        "DefaultEndpointsProtocol=https;AccountName={account};AccountKey={key};BlobEndpoint={blob_endpoint}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_config_else_from_the_logs_deployment_id() {
        let tmp = tempfile::tempdir().unwrap();
        let log = ResourceLog::open(tmp.path(), "azure-westeurope").unwrap();
        let config = AzureConfig::default();
        let derived = AzureResources::resolve(&config, &log);
        assert_eq!(derived.resources_id, log.deployment_id());
        assert_eq!(
            derived.storage_account,
            format!("sebsstorage{}", log.deployment_id())
        );
        let mut named = AzureConfig::default();
        named.resources.resources_id = Some("abc123".into());
        named.resources.resource_group = Some("my-group".into());
        let given = AzureResources::resolve(&named, &log);
        assert_eq!(given.resource_group, "my-group");
        assert_eq!(given.storage_account, "sebsstorageabc123");
    }
}

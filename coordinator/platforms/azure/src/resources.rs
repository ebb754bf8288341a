//! The Azure resources every function shares: a resource group and a storage account (the
//! benchmarks' bucket lives in it, and it backs the function apps' `AzureWebJobsStorage`).
//!
//! Their names derive from a `resources_id` (8 random hex characters unless the config gives
//! one), because storage account names are global across Azure. What sebs created is remembered
//! in `<cache>/azure/resources.json`, so later runs reuse it.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::arm::{status_of, Arm};
use crate::config::AzureConfig;

const GROUPS_API: &str = "2021-04-01";
const STORAGE_API: &str = "2023-01-01";

/// The shared resources of one sebs deployment on Azure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AzureResources {
    pub resources_id: String,
    pub region: String,
    pub resource_group: String,
    pub storage_account: String,
}

impl AzureResources {
    /// The config's names win; else the cached ones (for the same region); else new ones.
    pub fn resolve(config: &AzureConfig, cache_dir: &Path) -> Result<Self> {
        let cached = Self::load(cache_dir)?.filter(|c| c.region == config.region);
        let section = &config.resources;
        let resources_id = section
            .resources_id
            .clone()
            .or_else(|| cached.as_ref().map(|c| c.resources_id.clone()))
            .unwrap_or_else(|| format!("{:08x}", rand::random::<u32>()));
        let reuse = |pick: fn(&AzureResources) -> &String| {
            cached
                .as_ref()
                .filter(|c| c.resources_id == resources_id)
                .map(|c| pick(c).clone())
        };
        Ok(AzureResources {
            resource_group: section
                .resource_group
                .clone()
                .or_else(|| reuse(|c| &c.resource_group))
                .unwrap_or_else(|| format!("sebs_resource_group_{resources_id}")),
            storage_account: section
                .storage_account
                .clone()
                .or_else(|| reuse(|c| &c.storage_account))
                .unwrap_or_else(|| format!("sebsstorage{resources_id}")),
            region: config.region.clone(),
            resources_id,
        })
    }

    pub fn cache_file(cache_dir: &Path) -> PathBuf {
        cache_dir.join("azure").join("resources.json")
    }

    fn load(cache_dir: &Path) -> Result<Option<Self>> {
        let path = Self::cache_file(cache_dir);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| {
                    format!("{}: not sebs's record of Azure resources", path.display())
                })
                .map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Remembers the resources (renamed into place, so a concurrent reader sees whole files).
    pub fn save(&self, cache_dir: &Path) -> Result<()> {
        let path = Self::cache_file(cache_dir);
        let dir = path.parent().unwrap_or(cache_dir);
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let tmp = dir.join(format!(".resources.{}.tmp", std::process::id()));
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))
    }

    pub fn group_path(&self, arm: &Arm) -> String {
        format!(
            "{}/resourceGroups/{}",
            arm.subscription_path(),
            self.resource_group
        )
    }

    fn account_path(&self, arm: &Arm) -> String {
        format!(
            "{}/providers/Microsoft.Storage/storageAccounts/{}",
            self.group_path(arm),
            self.storage_account
        )
    }

    /// Creates the resource group and the storage account unless they exist.
    pub async fn ensure(&self, arm: &Arm) -> Result<()> {
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
    fn names_come_from_the_config_then_the_cache_then_a_new_id() {
        let tmp = tempfile::tempdir().unwrap();
        let config = AzureConfig::default();
        let fresh = AzureResources::resolve(&config, tmp.path()).unwrap();
        assert_eq!(fresh.resources_id.len(), 8);
        assert_eq!(
            fresh.storage_account,
            format!("sebsstorage{}", fresh.resources_id)
        );
        fresh.save(tmp.path()).unwrap();
        assert_eq!(AzureResources::resolve(&config, tmp.path()).unwrap(), fresh);

        let mut other_region = AzureConfig::default();
        other_region.region = "eastus".into();
        let moved = AzureResources::resolve(&other_region, tmp.path()).unwrap();
        assert_ne!(moved.resources_id, fresh.resources_id);

        let mut named = AzureConfig::default();
        named.resources.resources_id = Some("abc123".into());
        named.resources.resource_group = Some("my-group".into());
        let given = AzureResources::resolve(&named, tmp.path()).unwrap();
        assert_eq!(given.resource_group, "my-group");
        assert_eq!(given.storage_account, "sebsstorageabc123");
    }
}

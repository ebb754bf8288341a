//! `deployment.azure` of the config file, in SeBS's shape plus what sebs adds.

use std::time::Duration;

use sebs_platform::section;
use serde::Deserialize;

/// How sebs deploys to Azure Functions. Every field is optional.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AzureConfig {
    /// Azure region of the resource group, the storage account and the function apps.
    pub region: String,
    /// A service principal: `appId`, `tenant`, `password`, `subscription_id` (see
    /// `credentials.rs` for the other sources).
    pub credentials: Option<serde_json::Value>,
    /// Resources to reuse; sebs creates what is missing and remembers it in the cache.
    pub resources: ResourcesSection,
    /// Seconds between two polls of a long-running operation (ARM, Kudu), unless the service
    /// says otherwise with `Retry-After`.
    pub poll_interval: f64,
    /// Seconds a long-running operation may take before sebs gives up on it.
    pub operation_timeout: f64,
    /// Service endpoints; the defaults are Azure's public cloud.
    pub endpoints: Endpoints,
}

impl Default for AzureConfig {
    fn default() -> Self {
        AzureConfig {
            region: "westeurope".into(),
            credentials: None,
            resources: ResourcesSection::default(),
            poll_interval: 2.0,
            operation_timeout: 600.0,
            endpoints: Endpoints::default(),
        }
    }
}

/// SeBS's `resources` object. `storage_accounts` and `data_storage_account` (SeBS's cached
/// connection strings) are accepted so that SeBS files load; sebs asks for keys itself.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResourcesSection {
    /// Suffix of every resource name sebs creates (8 hex characters when sebs picks it).
    pub resources_id: Option<String>,
    pub resource_group: Option<String>,
    /// The storage account that holds the benchmarks' data and backs the function apps.
    pub storage_account: Option<String>,
    pub storage_accounts: Option<serde_json::Value>,
    pub data_storage_account: Option<serde_json::Value>,
}

/// Where the Azure services are. Sovereign clouds (and tests) change them.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Endpoints {
    /// Azure Resource Manager.
    pub management: String,
    /// Microsoft Entra ID, where the service principal gets its tokens.
    pub login: String,
    /// The Kudu (SCM) site of a function app; `{app}` is replaced by the app's name.
    pub kudu: String,
    /// The blob service of the storage account; `{account}` is replaced by its name.
    pub blob: String,
    /// Where a function app's functions are called; `{host}` is the app's default host name.
    pub functions: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints {
            management: "https://management.azure.com".into(),
            login: "https://login.microsoftonline.com".into(),
            kudu: "https://{app}.scm.azurewebsites.net".into(),
            blob: "https://{account}.blob.core.windows.net".into(),
            functions: "https://{host}".into(),
        }
    }
}

impl AzureConfig {
    /// Parses and checks the `deployment.azure` section.
    pub fn from_section(section: Option<&serde_json::Value>) -> Result<Self, String> {
        let config: AzureConfig = section::parse("azure", section)?;
        if config.region.is_empty()
            || !config
                .region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return Err(format!(
                "deployment.azure.region: `{}` is not an Azure region name (like `westeurope`)",
                config.region
            ));
        }
        section::check_seconds(
            "azure",
            &[
                ("poll_interval", config.poll_interval),
                ("operation_timeout", config.operation_timeout),
            ],
        )?;
        if let Some(id) = &config.resources.resources_id {
            if id.is_empty()
                || id.len() > 8
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            {
                return Err(format!(
                    "deployment.azure.resources.resources_id: `{id}` must be 1-8 lowercase letters or digits \
                     (it becomes part of storage account names)"
                ));
            }
        }
        let e = &config.endpoints;
        section::check_urls(
            "azure",
            &[
                ("endpoints.management", &e.management),
                ("endpoints.login", &e.login),
                ("endpoints.kudu", &e.kudu),
                ("endpoints.blob", &e.blob),
                ("endpoints.functions", &e.functions),
            ],
        )?;
        Ok(config)
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_secs_f64(self.poll_interval)
    }

    pub fn operation_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.operation_timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_sebs_sections_and_names_bad_fields() {
        let c = AzureConfig::from_section(Some(&json!({
            "region": "eastus",
            "credentials": {"appId": "a", "tenant": "t", "password": "p"},
            "resources": {"resources_id": "1a2b3c4d", "data_storage_account": {"account_name": "x"}}
        })))
        .unwrap();
        assert_eq!(c.region, "eastus");
        assert_eq!(c.resources.resources_id.as_deref(), Some("1a2b3c4d"));

        let err = AzureConfig::from_section(Some(&json!({"regoin": "x"}))).unwrap_err();
        assert!(err.contains("regoin"), "{err}");
        let err = AzureConfig::from_section(Some(&json!({"region": "West Europe"}))).unwrap_err();
        assert!(err.contains("deployment.azure.region"), "{err}");
        let err = AzureConfig::from_section(Some(&json!({"resources": {"resources_id": "ABC"}})))
            .unwrap_err();
        assert!(err.contains("resources_id"), "{err}");
        let err = AzureConfig::from_section(Some(&json!({"endpoints": {"management": "ftp://x"}})))
            .unwrap_err();
        assert!(err.contains("endpoints.management"), "{err}");
    }
}

//! `sebs resources list|remove` on Azure: what the resource log recorded, checked against
//! Resource Manager.

use anyhow::{bail, Result};
use reqwest::Method;
use sebs_platform::{ListedResource, Resource};

use crate::arm::status_of;
use crate::functionapp::WEB_API;
use crate::resources::{GROUPS_API, STORAGE_API};
use crate::AzurePlatform;

/// Removal order: apps before their plan, both before the storage account that backs them,
/// everything before the group that holds it.
fn rank(kind: &str) -> u8 {
    match kind {
        "function-app" => 0,
        "plan" => 1,
        "storage-account" => 2,
        "resource-group" => 3,
        _ => 4,
    }
}

fn api_version(kind: &str) -> Result<&'static str> {
    Ok(match kind {
        "function-app" | "plan" => WEB_API,
        "storage-account" => STORAGE_API,
        "resource-group" => GROUPS_API,
        other => bail!("the resource record has an unknown Azure kind `{other}`"),
    })
}

/// Every recorded resource carries its Resource Manager path as its id.
fn path(resource: &Resource) -> Result<&str> {
    match resource.id.as_deref() {
        Some(path) => Ok(path),
        None => bail!(
            "the record of {} `{}` has no Resource Manager path",
            resource.kind,
            resource.name
        ),
    }
}

pub async fn list(platform: &AzurePlatform) -> Result<Vec<ListedResource>> {
    let mut recorded = platform.log.list()?;
    recorded.reverse();
    recorded.sort_by_key(|r| rank(&r.kind));
    let mut listed = Vec::with_capacity(recorded.len());
    for resource in recorded {
        let found = platform
            .arm
            .get_opt(path(&resource)?, api_version(&resource.kind)?)
            .await?;
        listed.push(ListedResource {
            exists: found.is_some(),
            resource,
        });
    }
    Ok(listed)
}

pub async fn remove(platform: &AzurePlatform, resource: &Resource) -> Result<()> {
    let deleted = platform
        .arm
        .call_and_wait(
            Method::DELETE,
            path(resource)?,
            api_version(&resource.kind)?,
            None,
        )
        .await;
    match deleted {
        Ok(_) => {}
        Err(e) if status_of(&e) == Some(404) => {}
        Err(e) => return Err(e.context(format!("removing {} {}", resource.kind, resource.name))),
    }
    platform.log.forget(&resource.kind, &resource.name)?;
    tracing::info!(kind = %resource.kind, name = %resource.name, "removed");
    Ok(())
}

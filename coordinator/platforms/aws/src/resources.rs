//! `sebs resources list|remove` on AWS: what the resource log recorded, checked against AWS.

use anyhow::{bail, Result};
use sebs_platform::{ListedResource, Resource};

use crate::{functions, logs, role, AwsPlatform};

/// Removal order: functions before the role they run as, and before the bucket their large
/// code zips live in.
fn rank(kind: &str) -> u8 {
    match kind {
        "function" => 0,
        "bucket" => 1,
        "role" => 2,
        _ => 3,
    }
}

pub async fn list(platform: &AwsPlatform) -> Result<Vec<ListedResource>> {
    let mut recorded = platform.log.list()?;
    // Newest first within a kind, kinds in removal order.
    recorded.reverse();
    recorded.sort_by_key(|r| rank(&r.kind));
    let mut listed = Vec::with_capacity(recorded.len());
    for resource in recorded {
        let exists = exists(platform, &resource).await?;
        listed.push(ListedResource { resource, exists });
    }
    Ok(listed)
}

async fn exists(platform: &AwsPlatform, r: &Resource) -> Result<bool> {
    Ok(match r.kind.as_str() {
        "function" => functions::get_configuration(&platform.lambda, &r.name)
            .await?
            .is_some(),
        "bucket" => platform.storage.bucket_exists(&r.name).await?,
        "role" => role::get_role_arn(&platform.iam, &r.name).await?.is_some(),
        other => bail!(
            "the resource record has an unknown kind `{other}` ({})",
            r.name
        ),
    })
}

pub async fn remove(platform: &AwsPlatform, r: &Resource) -> Result<()> {
    match r.kind.as_str() {
        "function" => {
            functions::delete(&platform.lambda, &r.name).await?;
            logs::delete_log_group(&platform.logs, &r.name).await?;
        }
        "bucket" => platform.storage.delete_bucket(&r.name).await?,
        "role" => role::delete_role(&platform.iam, &r.name).await?,
        other => bail!("sebs does not know how to remove a {other} on AWS"),
    }
    platform.log.forget(&r.kind, &r.name)?;
    tracing::info!(kind = %r.kind, name = %r.name, "removed");
    Ok(())
}

//! The execution role functions run as: the config's `lambda-role`, or one sebs creates.

use anyhow::{Context, Result};
use aws_sdk_iam::error::ProvideErrorMetadata;
use sebs_platform::{Resource, ResourceLog};

/// Policies of the role sebs creates: logs to CloudWatch, and the benchmarks' S3 storage.
const POLICIES: [&str; 2] = [
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AmazonS3FullAccess",
];

const TRUST_POLICY: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}"#;

/// The name of the role sebs creates for a deployment.
pub fn role_name(deployment_id: &str) -> String {
    format!("sebs-lambda-role-{deployment_id}")
}

/// The ARN of the execution role: the configured one (a name or an ARN), else sebs's own,
/// created (and recorded) when missing. Returns whether it was just created: IAM takes a few
/// seconds before Lambda can assume a new role.
pub async fn ensure_role(
    iam: &aws_sdk_iam::Client,
    configured: Option<&str>,
    log: &ResourceLog,
) -> Result<(String, bool)> {
    if let Some(role) = configured {
        if role.starts_with("arn:") {
            return Ok((role.to_string(), false));
        }
        let arn = get_role_arn(iam, role).await?.with_context(|| {
            format!("deployment.aws.lambda-role: there is no IAM role `{role}`")
        })?;
        return Ok((arn, false));
    }
    let name = role_name(log.deployment_id());
    if let Some(arn) = get_role_arn(iam, &name).await? {
        return Ok((arn, false));
    }
    let created = iam
        .create_role()
        .role_name(&name)
        .assume_role_policy_document(TRUST_POLICY)
        .description("Execution role of the functions sebs deploys")
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("IAM CreateRole {name}: {}", crate::describe(&e)))?;
    let arn = created
        .role()
        .map(|r| r.arn().to_string())
        .context("IAM CreateRole returned no role")?;
    log.record(Resource::new("role", &name, Some(arn.clone())))?;
    for policy in POLICIES {
        iam.attach_role_policy()
            .role_name(&name)
            .policy_arn(policy)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "IAM AttachRolePolicy {policy} to {name}: {}",
                    crate::describe(&e)
                )
            })?;
    }
    tracing::info!(role = %name, "created the lambda execution role");
    Ok((arn, true))
}

/// The role's ARN, or `None` when there is no such role.
pub async fn get_role_arn(iam: &aws_sdk_iam::Client, name: &str) -> Result<Option<String>> {
    match iam.get_role().role_name(name).send().await {
        Ok(out) => Ok(out.role().map(|r| r.arn().to_string())),
        Err(e) if e.code() == Some("NoSuchEntity") => Ok(None),
        Err(e) => Err(anyhow::anyhow!(
            "IAM GetRole {name}: {}",
            crate::describe(&e)
        )),
    }
}

/// Detaches the role's policies and deletes it; a role already gone is not an error.
pub async fn delete_role(iam: &aws_sdk_iam::Client, name: &str) -> Result<()> {
    let describe =
        |what: &str, e: &dyn std::fmt::Display| anyhow::anyhow!("IAM {what} {name}: {e}");
    let attached = match iam
        .list_attached_role_policies()
        .role_name(name)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) if e.code() == Some("NoSuchEntity") => return Ok(()),
        Err(e) => return Err(describe("ListAttachedRolePolicies", &crate::describe(&e))),
    };
    for policy in attached.attached_policies() {
        if let Some(arn) = policy.policy_arn() {
            iam.detach_role_policy()
                .role_name(name)
                .policy_arn(arn)
                .send()
                .await
                .map_err(|e| describe("DetachRolePolicy", &crate::describe(&e)))?;
        }
    }
    let inline = iam
        .list_role_policies()
        .role_name(name)
        .send()
        .await
        .map_err(|e| describe("ListRolePolicies", &crate::describe(&e)))?;
    for policy in inline.policy_names() {
        iam.delete_role_policy()
            .role_name(name)
            .policy_name(policy)
            .send()
            .await
            .map_err(|e| describe("DeleteRolePolicy", &crate::describe(&e)))?;
    }
    match iam.delete_role().role_name(name).send().await {
        Err(e) if e.code() != Some("NoSuchEntity") => {
            Err(describe("DeleteRole", &crate::describe(&e)))
        }
        _ => Ok(()),
    }
}

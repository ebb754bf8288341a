//! Creating, updating and configuring Lambda functions, and their function URLs.
//!
//! A deployed function's code is replaced only when its `CodeSha256` differs from the zip's (the
//! zip is reproducible, so this is "the package hash changed"); its configuration is updated only
//! when memory, timeout, runtime or role differ (SEBS-CONTRACT §6). Every change waits until
//! Lambda reports the function `Active` and its last update `Successful`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use aws_sdk_lambda::error::ProvideErrorMetadata;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    Architecture, Environment, FunctionCode, FunctionConfiguration, FunctionUrlAuthType,
    LastUpdateStatus, Runtime, State,
};
use aws_sdk_lambda::Client;
use sebs_common::{Architecture as Arch, Language};
use sebs_platform::FunctionSpec;

use sebs_platform::ObjectStorage;

use crate::package::{CodeZip, LambdaLimits};
use crate::storage::S3Storage;

/// The environment variable whose change forces cold starts; the wrapper reports it back as
/// `cold_start_var`.
pub const COLD_START_VAR: &str = "cold_start";
/// Lambda's handler of every sebs function: `handler.handler` in the wrapper.
const HANDLER: &str = "handler.handler";
/// How long a function may take to become active or finish an update.
const READY_TIMEOUT: Duration = Duration::from_secs(300);
/// How long to retry a create while a new role propagates through IAM.
const ROLE_PROPAGATION: Duration = Duration::from_secs(90);

/// What [`deploy`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deployed {
    Created,
    /// The code changed (and maybe the configuration).
    CodeUpdated,
    /// Only memory, timeout, runtime or role changed.
    ConfigurationUpdated,
    Unchanged,
}

/// Where the code comes from: inline, or an object uploaded to S3 (zips over 50 MB).
#[derive(Clone, Debug)]
pub enum CodeSource {
    Inline(Vec<u8>),
    S3 { bucket: String, key: String },
}

/// Everything Lambda is told about a function.
#[derive(Clone, Debug)]
pub struct LambdaSettings<'a> {
    pub spec: &'a FunctionSpec,
    pub architecture: Arch,
    pub role_arn: &'a str,
    /// Retry the create while IAM propagates a role made moments ago.
    pub role_is_new: bool,
}

impl LambdaSettings<'_> {
    fn runtime(&self) -> Runtime {
        Runtime::from(runtime_name(self.spec.language, &self.spec.language_version).as_str())
    }

    fn architecture(&self) -> Architecture {
        match self.architecture {
            Arch::X64 => Architecture::X8664,
            Arch::Arm64 => Architecture::Arm64,
        }
    }

    fn timeout_s(&self) -> i32 {
        self.spec.timeout.as_secs().max(1) as i32
    }
}

/// Lambda's runtime identifier: `python3.11`, `nodejs20.x`.
pub fn runtime_name(language: Language, version: &str) -> String {
    match language {
        Language::Python => format!("python{version}"),
        Language::Nodejs => format!("nodejs{version}.x"),
    }
}

/// Creates the function or brings it up to date; returns its configuration and what was done.
pub async fn deploy(
    lambda: &Client,
    settings: &LambdaSettings<'_>,
    zip: &CodeZip,
    upload: &CodeUpload<'_>,
) -> Result<(FunctionConfiguration, Deployed)> {
    let name = &settings.spec.name;
    let Some(current) = get_configuration(lambda, name).await? else {
        let code = upload.source(name, zip).await?;
        create(lambda, settings, code).await?;
        return Ok((wait_ready(lambda, name).await?, Deployed::Created));
    };
    wait_ready(lambda, name).await?;
    let mut done = Deployed::Unchanged;
    let arch_changed = !current.architectures().contains(&settings.architecture());
    if current.code_sha256() != Some(zip.sha256.as_str()) || arch_changed {
        let mut request = lambda
            .update_function_code()
            .function_name(name)
            .architectures(settings.architecture());
        request = match upload.source(name, zip).await? {
            CodeSource::Inline(bytes) => request.zip_file(Blob::new(bytes)),
            CodeSource::S3 { bucket, key } => request.s3_bucket(bucket).s3_key(key),
        };
        request
            .send()
            .await
            .map_err(crate::failed("UpdateFunctionCode", name))?;
        wait_ready(lambda, name).await?;
        tracing::info!(function = %name, "updated the function's code");
        done = Deployed::CodeUpdated;
    }
    let configuration_differs = current.memory_size() != Some(settings.spec.memory_mb as i32)
        || current.timeout() != Some(settings.timeout_s())
        || current.runtime() != Some(&settings.runtime())
        || current.role() != Some(settings.role_arn)
        || current.handler() != Some(HANDLER);
    if configuration_differs {
        lambda
            .update_function_configuration()
            .function_name(name)
            .memory_size(settings.spec.memory_mb as i32)
            .timeout(settings.timeout_s())
            .runtime(settings.runtime())
            .role(settings.role_arn)
            .handler(HANDLER)
            .send()
            .await
            .map_err(crate::failed("UpdateFunctionConfiguration", name))?;
        tracing::info!(function = %name, memory_mb = settings.spec.memory_mb, timeout_s = settings.timeout_s(), "updated the function's configuration");
        if done == Deployed::Unchanged {
            done = Deployed::ConfigurationUpdated;
        }
    }
    Ok((wait_ready(lambda, name).await?, done))
}

/// How a zip reaches Lambda: inline when it is small enough, else through an S3 object.
#[derive(Clone, Copy, Debug)]
pub struct CodeUpload<'a> {
    pub storage: &'a S3Storage,
    /// The bucket large zips go to (under `sebs-code/`).
    pub bucket: &'a str,
    pub limits: LambdaLimits,
}

impl CodeUpload<'_> {
    /// The code of `zip`, uploaded first when it must go through S3. Called only when the code
    /// is about to be sent.
    pub async fn source(&self, function: &str, zip: &CodeZip) -> Result<CodeSource> {
        if !zip.needs_s3(&self.limits) {
            let bytes = tokio::fs::read(&zip.path)
                .await
                .with_context(|| format!("reading {}", zip.path.display()))?;
            return Ok(CodeSource::Inline(bytes));
        }
        let file = zip.path.file_name().unwrap_or_default().to_string_lossy();
        let key = format!("sebs-code/{function}/{file}");
        self.storage.create_bucket(self.bucket).await?;
        self.storage.upload(self.bucket, &key, &zip.path).await?;
        tracing::info!(function, bucket = self.bucket, %key, size = zip.size, "uploaded the code to S3 (over the direct upload limit)");
        Ok(CodeSource::S3 {
            bucket: self.bucket.to_string(),
            key,
        })
    }
}

async fn create(lambda: &Client, settings: &LambdaSettings<'_>, code: CodeSource) -> Result<()> {
    let spec = settings.spec;
    let code = match code {
        CodeSource::Inline(bytes) => FunctionCode::builder().zip_file(Blob::new(bytes)).build(),
        CodeSource::S3 { bucket, key } => FunctionCode::builder()
            .s3_bucket(bucket)
            .s3_key(key)
            .build(),
    };
    let started = Instant::now();
    loop {
        let result = lambda
            .create_function()
            .function_name(&spec.name)
            .runtime(settings.runtime())
            .role(settings.role_arn)
            .handler(HANDLER)
            .code(code.clone())
            .memory_size(spec.memory_mb as i32)
            .timeout(settings.timeout_s())
            .architectures(settings.architecture())
            .description(format!("sebs: {}", spec.package_hash))
            .send()
            .await;
        match result {
            Ok(_) => {
                tracing::info!(function = %spec.name, "created the function");
                return Ok(());
            }
            // IAM is eventually consistent: a role made seconds ago may not be assumable yet.
            Err(e)
                if settings.role_is_new
                    && e.code() == Some("InvalidParameterValueException")
                    && e.message().is_some_and(|m| m.contains("cannot be assumed"))
                    && started.elapsed() < ROLE_PROPAGATION =>
            {
                tracing::debug!(function = %spec.name, "waiting for the new role to propagate");
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
            Err(e) => bail!("CreateFunction {}: {}", spec.name, crate::describe(&e)),
        }
    }
}

/// The function's configuration, or `None` when there is no such function.
pub async fn get_configuration(
    lambda: &Client,
    name: &str,
) -> Result<Option<FunctionConfiguration>> {
    match lambda
        .get_function_configuration()
        .function_name(name)
        .send()
        .await
    {
        Ok(out) => Ok(Some(configuration_of(out))),
        Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
        Err(e) => bail!("GetFunctionConfiguration {name}: {}", crate::describe(&e)),
    }
}

/// Polls until the function is active and its last update has finished; fails with Lambda's
/// reason when either failed.
pub async fn wait_ready(lambda: &Client, name: &str) -> Result<FunctionConfiguration> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let conf = get_configuration(lambda, name)
            .await?
            .with_context(|| format!("function {name} disappeared while sebs waited for it"))?;
        if conf.state() == Some(&State::Failed) {
            bail!(
                "function {name} failed to become active: {}",
                conf.state_reason().unwrap_or("no reason given")
            );
        }
        if conf.last_update_status() == Some(&LastUpdateStatus::Failed) {
            bail!(
                "the update of function {name} failed: {}",
                conf.last_update_status_reason()
                    .unwrap_or("no reason given")
            );
        }
        let active = matches!(
            conf.state(),
            None | Some(State::Active) | Some(State::Inactive)
        );
        let updated = matches!(
            conf.last_update_status(),
            None | Some(LastUpdateStatus::Successful)
        );
        if active && updated {
            return Ok(conf);
        }
        if Instant::now() > deadline {
            bail!(
                "function {name} was still {:?}/{:?} after {READY_TIMEOUT:?}",
                conf.state(),
                conf.last_update_status()
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The function's URL, made (public, `AuthType=NONE`) when it has none.
pub async fn ensure_url(lambda: &Client, name: &str) -> Result<String> {
    match lambda
        .get_function_url_config()
        .function_name(name)
        .send()
        .await
    {
        Ok(out) => return Ok(out.function_url().to_string()),
        Err(e) if e.code() == Some("ResourceNotFoundException") => {}
        Err(e) => bail!("GetFunctionUrlConfig {name}: {}", crate::describe(&e)),
    }
    let out = lambda
        .create_function_url_config()
        .function_name(name)
        .auth_type(FunctionUrlAuthType::None)
        .send()
        .await
        .map_err(crate::failed("CreateFunctionUrlConfig", name))?;
    // A public URL needs the right to call it through the URL, and (since October 2025) the
    // right to invoke the function when called through a URL.
    let grants = [
        ("sebs-function-url", "lambda:InvokeFunctionUrl"),
        ("sebs-function-url-invoke", "lambda:InvokeFunction"),
    ];
    for (statement, action) in grants {
        let mut request = lambda
            .add_permission()
            .function_name(name)
            .statement_id(statement)
            .action(action)
            .principal("*");
        request = if action == "lambda:InvokeFunctionUrl" {
            request.function_url_auth_type(FunctionUrlAuthType::None)
        } else {
            request.invoked_via_function_url(true)
        };
        match request.send().await {
            Ok(_) => {}
            Err(e) if e.code() == Some("ResourceConflictException") => {} // granted before
            Err(e) => bail!("AddPermission {action} on {name}: {}", crate::describe(&e)),
        }
    }
    tracing::info!(function = %name, url = out.function_url(), "created the function URL");
    Ok(out.function_url().to_string())
}

/// Changes the function's `cold_start` variable: Lambda retires every warm instance when the
/// configuration changes, so the next invocations start cold. Returns the new value.
pub async fn enforce_cold_start(lambda: &Client, name: &str) -> Result<String> {
    let conf = wait_ready(lambda, name).await?;
    let mut variables: HashMap<String, String> = conf
        .environment()
        .and_then(|e| e.variables())
        .cloned()
        .unwrap_or_default();
    let next = variables
        .get(COLD_START_VAR)
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(1, |n| n + 1)
        .to_string();
    variables.insert(COLD_START_VAR.to_string(), next.clone());
    lambda
        .update_function_configuration()
        .function_name(name)
        .environment(
            Environment::builder()
                .set_variables(Some(variables))
                .build(),
        )
        .send()
        .await
        .map_err(crate::failed("UpdateFunctionConfiguration", name))?;
    wait_ready(lambda, name).await?;
    tracing::debug!(function = %name, cold_start = %next, "forced a cold start");
    Ok(next)
}

/// Deletes the function (its URL and permissions go with it); a function already gone is not
/// an error.
pub async fn delete(lambda: &Client, name: &str) -> Result<()> {
    match lambda.delete_function().function_name(name).send().await {
        Err(e) if e.code() != Some("ResourceNotFoundException") => {
            bail!("DeleteFunction {name}: {}", crate::describe(&e))
        }
        _ => Ok(()),
    }
}

fn configuration_of(
    out: aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput,
) -> FunctionConfiguration {
    FunctionConfiguration::builder()
        .set_function_name(out.function_name)
        .set_function_arn(out.function_arn)
        .set_runtime(out.runtime)
        .set_role(out.role)
        .set_handler(out.handler)
        .set_code_sha256(out.code_sha256)
        .set_timeout(out.timeout)
        .set_memory_size(out.memory_size)
        .set_environment(out.environment)
        .set_state(out.state)
        .set_state_reason(out.state_reason)
        .set_last_update_status(out.last_update_status)
        .set_last_update_status_reason(out.last_update_status_reason)
        .set_architectures(out.architectures)
        .build()
}

//! The Azure platform's deployment calls against recorded Resource Manager, Entra ID and Kudu
//! replies, served by a real HTTP server on 127.0.0.1 (no Azure is reachable here). Blob storage
//! goes to azurite when it is installed.

// Test code: a panic with a message is how a test fails.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use sebs_common::config::TriggerKind;
use sebs_common::Language;
use sebs_platform::{FunctionSpec, Platform};
use sebs_platform_azure::AzurePlatform;
use sebs_testkit::replay::{Recorded, ReplayServer, Reply};
use sebs_worker::InvocationRequest;
use serde_json::json;

const SUB: &str = "/subscriptions/00000000-0000-0000-0000-0000000000aa";
const GROUP: &str =
    "/subscriptions/00000000-0000-0000-0000-0000000000aa/resourceGroups/sebs_resource_group_abc123";
const APP: &str = "sebs-110-dynamic-html-python-3-11-abc123";
const TENANT: &str = "72f988bf-0000-0000-0000-2d7cd011db47";
const SECRET: &str = "recorded-client-secret~value";
const ACCOUNT: &str = sebs_testkit::emulators::AZURITE_ACCOUNT;

fn recorded(name: &str, substitutions: &[(&str, &str)]) -> Reply {
    let path = sebs_testkit::repo_root()
        .join("coordinator/platforms/azure/tests/recorded")
        .join(format!("{name}.json"));
    let mut reply = Reply::from_file(&path);
    let mut body = String::from_utf8(reply.body).expect("utf-8 body");
    for (from, to) in substitutions {
        body = body.replace(from, to);
    }
    reply.body = body.into_bytes();
    reply
}

/// The section that points every Azure endpoint at the recorded server; the storage account is
/// azurite's, whose key the recorded `listKeys` reply holds.
fn section(server: &ReplayServer, blob: &str) -> serde_json::Value {
    json!({
        "region": "westeurope",
        "credentials": {
            "appId": "00000000-0000-0000-0000-00000000a99c",
            "tenant": TENANT,
            "password": SECRET,
            "subscription_id": "00000000-0000-0000-0000-0000000000aa"
        },
        "resources": {"resources_id": "abc123", "storage_account": ACCOUNT},
        "poll_interval": 0.01,
        "operation_timeout": 20,
        "endpoints": {
            "management": server.url(),
            "login": server.url(),
            "kudu": server.url(),
            "blob": blob,
            "functions": "http://{host}"
        }
    })
}

/// A cache folder and the platform started against the recorded server, its blobs at `blob`.
async fn started(server: &ReplayServer, blob: &str) -> (tempfile::TempDir, AzurePlatform) {
    let cache = tempfile::tempdir().unwrap();
    let platform = AzurePlatform::start(Some(&section(server, blob)), cache.path())
        .await
        .expect("start");
    (cache, platform)
}

/// Routes for `AzurePlatform::start` creating the group and the account from scratch.
fn record_start(server: &ReplayServer) {
    server.on(
        "POST",
        &format!("/{TENANT}/oauth2/v2.0/token"),
        vec![recorded("token", &[])],
    );
    server.on("GET", GROUP, vec![recorded("group-not-found", &[])]);
    server.on("PUT", GROUP, vec![recorded("group-created", &[])]);
    let account = format!("{GROUP}/providers/Microsoft.Storage/storageAccounts/{ACCOUNT}");
    server.on(
        "GET",
        &account,
        vec![recorded("account-not-found", &[]), recorded("account", &[])],
    );
    server.on("PUT", &account, vec![recorded("account-accepted", &[])]);
    server.on(
        "GET",
        &format!("{SUB}/providers/Microsoft.Storage/locations/westeurope/asyncoperations/*"),
        vec![
            recorded("account-operation-running", &[]),
            Reply::empty(200),
        ],
    );
    server.on(
        "POST",
        &format!("{account}/listKeys"),
        vec![recorded("account-keys", &[])],
    );
}

fn package(dir: &Path) -> PathBuf {
    let package = dir.join("package");
    for (file, text) in [
        ("handler/function.json", "{}"),
        ("handler/__init__.py", "import sebs_handler\n"),
        (
            "function/function.py",
            "def handler(event):\n    return {}\n",
        ),
        (".python_packages/jinja2/__init__.py", ""),
    ] {
        std::fs::create_dir_all(package.join(file).parent().unwrap()).unwrap();
        std::fs::write(package.join(file), text).unwrap();
    }
    package
}

fn spec(package_dir: PathBuf) -> FunctionSpec {
    FunctionSpec {
        name: "sebs-110-dynamic-html-python-3-11".into(),
        language: Language::Python,
        language_version: "3.11".into(),
        package_dir,
        package_hash: "5e1f0c".into(),
        memory_mb: 1536,
        timeout: Duration::from_secs(10),
        environment: [(
            "NOSQL_STORAGE_TABLE_carts".to_string(),
            "sebs-carts".to_string(),
        )]
        .into(),
    }
}

fn settings_of(request: &Recorded) -> serde_json::Map<String, serde_json::Value> {
    request.json()["properties"]
        .as_object()
        .cloned()
        .expect("a settings body")
}

#[tokio::test]
async fn creates_resources_deploys_invokes_and_forces_cold_starts() {
    let server = ReplayServer::start();
    let azurite = sebs_testkit::emulators::azurite();
    let blob = azurite
        .as_ref()
        .map(|a| a.blob_endpoint.clone())
        .unwrap_or_else(|| server.url().to_string());
    record_start(&server);
    let (cache, platform) = started(&server, &blob).await;

    // Start signed in once, found nothing, created the group and the account (following the
    // 202 Location until it answered 200), and read the account's key.
    let tokens = server.requests_to("POST", &format!("/{TENANT}/oauth2/v2.0/token"));
    assert_eq!(tokens.len(), 1, "the token is reused");
    let form = String::from_utf8(tokens[0].body.clone()).unwrap();
    assert!(form.contains("grant_type=client_credentials"), "{form}");
    assert!(
        form.contains("scope=https%3A%2F%2Fmanagement.azure.com%2F.default"),
        "{form}"
    );
    let group = server.requests_to("PUT", GROUP);
    assert_eq!(group[0].json(), json!({"location": "westeurope"}));
    assert!(group[0]
        .header("authorization")
        .is_some_and(|a| a.starts_with("Bearer eyJ")));
    assert!(group[0].target.contains("api-version=2021-04-01"));
    let account_put = &server
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT" && r.path().ends_with(ACCOUNT))
        .expect("the account was created");
    assert_eq!(account_put.json()["sku"]["name"], "Standard_LRS");
    assert_eq!(account_put.json()["kind"], "StorageV2");
    let saved =
        std::fs::read_to_string(cache.path().join("resources/azure-westeurope.json")).unwrap();
    assert!(saved.contains("\"resource-group\""), "{saved}");
    assert!(saved.contains("\"storage-account\""), "{saved}");
    assert!(!saved.contains(SECRET));

    if azurite.is_some() {
        // The key read from Resource Manager opens the (azurite) account.
        let storage = platform.storage();
        let bucket = platform.benchmarks_bucket();
        storage.create_bucket(bucket).await.expect("bucket");
        let file = cache.path().join("in.txt");
        std::fs::write(&file, "data").unwrap();
        storage
            .upload(bucket, "a/in.txt", &file)
            .await
            .expect("upload");
        assert_eq!(storage.list(bucket, "a/").await.unwrap(), ["a/in.txt"]);
    }

    // Deploy: no app yet, so the plan and the app are created, the zip goes to Kudu, and the
    // package hash is stored in the app settings.
    let host = server.url().trim_start_matches("http://").to_string();
    let site_path = format!("{GROUP}/providers/Microsoft.Web/sites/{APP}");
    let plan = format!("{GROUP}/providers/Microsoft.Web/serverfarms/sebs-linux-consumption-abc123");
    server.on("GET", &plan, vec![recorded("plan-not-found", &[])]);
    server.on("PUT", &plan, vec![recorded("plan-created", &[])]);
    server.on("GET", &site_path, vec![recorded("site-not-found", &[])]);
    server.on(
        "PUT",
        &site_path,
        vec![recorded("site", &[("{{host}}", &host)])],
    );
    server.on(
        "POST",
        "/api/zipdeploy",
        vec![recorded("zipdeploy-accepted", &[])],
    );
    server.on(
        "GET",
        "/api/deployments/latest",
        vec![
            recorded("deployment-building", &[]),
            recorded("deployment-building", &[]),
            recorded("deployment-succeeded", &[]),
        ],
    );
    server.on(
        "PUT",
        &format!("{site_path}/config/appsettings"),
        vec![recorded("settings-put", &[])],
    );
    server.on(
        "POST",
        &format!("{site_path}/syncfunctiontriggers"),
        vec![recorded("sync-triggers", &[])],
    );
    let tmp = tempfile::tempdir().unwrap();
    let function = platform
        .deploy(&spec(package(tmp.path())))
        .await
        .expect("deploy");
    assert_eq!(function.name, APP);
    assert_eq!(function.url, format!("http://{host}/api/handler"));

    let created = server.requests_to("PUT", &site_path);
    let body = created[0].json();
    assert_eq!(body["kind"], "functionapp,linux");
    assert_eq!(
        body["properties"]["siteConfig"]["linuxFxVersion"],
        "PYTHON|3.11"
    );
    assert!(body["properties"]["serverFarmId"]
        .as_str()
        .unwrap()
        .ends_with("serverfarms/sebs-linux-consumption-abc123"));
    let app_settings = body["properties"]["siteConfig"]["appSettings"].to_string();
    for setting in [
        "NOSQL_STORAGE_TABLE_carts",
        "FUNCTIONS_WORKER_RUNTIME",
        "AzureWebJobsStorage",
        "STORAGE_CONNECTION_STRING",
        "cold_start",
    ] {
        assert!(
            app_settings.contains(setting),
            "{setting} in {app_settings}"
        );
    }
    let plan_body = server.requests_to("PUT", &plan)[0].json();
    assert_eq!(plan_body["sku"], json!({"name": "Y1", "tier": "Dynamic"}));
    assert_eq!(plan_body["properties"]["reserved"], true);

    let upload = &server.requests_to("POST", "/api/zipdeploy")[0];
    assert_eq!(upload.target, "/api/zipdeploy?isAsync=true");
    assert_eq!(upload.header("content-type"), Some("application/zip"));
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(upload.body.clone())).unwrap();
    let mut host_json = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("host.json").unwrap(), &mut host_json).unwrap();
    assert!(
        host_json.contains("\"functionTimeout\":\"00:00:10\""),
        "{host_json}"
    );
    assert!(zip
        .by_name(".python_packages/lib/site-packages/jinja2/__init__.py")
        .is_ok());
    assert_eq!(
        server.requests_to("GET", "/api/deployments/latest").len(),
        3
    );
    let stored =
        settings_of(&server.requests_to("PUT", &format!("{site_path}/config/appsettings"))[0]);
    assert_eq!(stored["SEBS_PACKAGE_HASH"], "5e1f0c-t10");
    assert_eq!(
        server
            .requests_to("POST", &format!("{site_path}/syncfunctiontriggers"))
            .len(),
        1
    );

    // Deploying the same package again uploads nothing.
    server.on(
        "GET",
        &site_path,
        vec![recorded("site", &[("{{host}}", &host)])],
    );
    server.on(
        "POST",
        &format!("{site_path}/config/appsettings/list"),
        vec![recorded("settings", &[("{{hash}}", "5e1f0c-t10")])],
    );
    platform
        .deploy(&spec(package(tmp.path())))
        .await
        .expect("second deploy");
    assert_eq!(server.requests_to("POST", "/api/zipdeploy").len(), 1);

    // A cold start changes `cold_start` and keeps every other setting.
    platform
        .enforce_cold_start(&function)
        .await
        .expect("cold start");
    let puts = server.requests_to("PUT", &format!("{site_path}/config/appsettings"));
    let after = settings_of(puts.last().unwrap());
    assert_eq!(after["SEBS_PACKAGE_HASH"], "5e1f0c-t10");
    assert_eq!(after["FUNCTIONS_WORKER_RUNTIME"], "python");
    assert_eq!(after["cold_start"].as_str().map(str::len), Some(8));

    // `sebs resources list` sees what was created, newest kinds first; `remove` deletes an app.
    server.on(
        "GET",
        &site_path,
        vec![recorded("site", &[("{{host}}", &host)])],
    );
    server.on("GET", &plan, vec![recorded("plan-created", &[])]);
    server.on("GET", GROUP, vec![recorded("group-created", &[])]);
    let listed = platform.resources().await.expect("list");
    let kinds: Vec<(&str, bool)> = listed
        .iter()
        .map(|l| (l.resource.kind.as_str(), l.exists))
        .collect();
    assert_eq!(
        kinds,
        [
            ("function-app", true),
            ("plan", true),
            ("storage-account", true),
            ("resource-group", true)
        ]
    );
    server.on("DELETE", &site_path, vec![Reply::empty(200)]);
    platform
        .remove_resource(&listed[0].resource)
        .await
        .expect("remove the app");
    assert_eq!(server.requests_to("DELETE", &site_path).len(), 1);
    assert_eq!(platform.resources().await.unwrap().len(), 3);

    // The trigger: the worker reads the function key (the host answers "not ready" once), then
    // calls the function with it. The spec it is built from carries no secret.
    let spec = platform.trigger_spec(&function, TriggerKind::Http).unwrap();
    let text = serde_json::to_string(&spec).unwrap();
    assert!(
        !text.contains(SECRET) && !text.contains("recorded-function-key"),
        "{text}"
    );
    assert!(platform
        .trigger_spec(&function, TriggerKind::Library)
        .is_err());
    server.on(
        "POST",
        &format!("{site_path}/host/default/listkeys"),
        vec![
            recorded("host-keys-not-ready", &[]),
            recorded("host-keys", &[]),
        ],
    );
    server.on("POST", "/api/handler", vec![recorded("invocation", &[])]);
    // The worker's credentials: the cache the platform saved them in (mode 0600), which the
    // spec names.
    let cached = cache.path().join("credentials/azure.json");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&cached).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let built = sebs_platform_azure::trigger_factory().build(&spec).unwrap();
    let payload = Bytes::from_static(br#"{"size": 10}"#);
    let raw = built
        .trigger
        .invoke(InvocationRequest {
            request_id: "r-1",
            payload: &payload,
        })
        .await;
    assert!(raw.error.is_none(), "{:?}", raw.error);
    assert_eq!(raw.status, Some(200));
    let reading = built.reader.read(&raw);
    assert!(reading.failure.is_none() && reading.cold);
    assert_eq!(reading.container_id, "3c9e1f0a");
    let call = &server.requests_to("POST", "/api/handler")[0];
    assert_eq!(
        call.header("x-functions-key"),
        Some("recorded-function-key-Xq93Lw==")
    );
    assert_eq!(call.body, payload.to_vec());
    assert_eq!(
        server
            .requests_to("POST", &format!("{site_path}/host/default/listkeys"))
            .len(),
        2
    );
}

#[tokio::test]
async fn a_failed_zip_deploy_reports_kudus_log() {
    let server = ReplayServer::start();
    record_start(&server);
    let (_cache, platform) = started(&server, server.url()).await;
    let host = server.url().trim_start_matches("http://").to_string();
    let site_path = format!("{GROUP}/providers/Microsoft.Web/sites/{APP}");
    server.on(
        "GET",
        &site_path,
        vec![recorded("site", &[("{{host}}", &host)])],
    );
    server.on(
        "POST",
        &format!("{site_path}/config/appsettings/list"),
        vec![recorded(
            "settings",
            &[("{{hash}}", "an-older-package-t10")],
        )],
    );
    server.on(
        "POST",
        "/api/zipdeploy",
        vec![recorded("zipdeploy-accepted", &[])],
    );
    server.on(
        "GET",
        "/api/deployments/latest",
        vec![
            recorded("deployment-building", &[]),
            recorded("deployment-failed", &[]),
        ],
    );
    server.on(
        "GET",
        "/api/deployments/latest/log",
        vec![recorded("deployment-log", &[])],
    );
    let tmp = tempfile::tempdir().unwrap();
    let err = platform
        .deploy(&spec(package(tmp.path())))
        .await
        .expect_err("the deployment failed")
        .to_string();
    assert!(err.contains("Deployment failed."), "{err}");
    assert!(err.contains("Not enough space on the disk"), "{err}");
    // Nothing was recorded as deployed.
    assert!(server
        .requests_to("PUT", &format!("{site_path}/config/appsettings"))
        .is_empty());
}

#[tokio::test]
async fn sign_in_and_naming_failures_are_explained() {
    let server = ReplayServer::start();
    server.on(
        "POST",
        &format!("/{TENANT}/oauth2/v2.0/token"),
        vec![recorded("token-invalid-client", &[])],
    );
    let cache = tempfile::tempdir().unwrap();
    let err = AzurePlatform::start(Some(&section(&server, server.url())), cache.path())
        .await
        .expect_err("the secret is wrong");
    let text = format!("{err:#}");
    assert!(text.contains("AADSTS7000215"), "{text}");
    assert!(text.contains("HTTP 401"), "{text}");
    assert!(!text.contains(SECRET), "{text}");

    let server = ReplayServer::start();
    record_start(&server);
    let account = format!("{GROUP}/providers/Microsoft.Storage/storageAccounts/{ACCOUNT}");
    server.on("PUT", &account, vec![recorded("account-name-taken", &[])]);
    let err = AzurePlatform::start(Some(&section(&server, server.url())), cache.path())
        .await
        .expect_err("the account name is taken");
    let text = format!("{err:#}");
    assert!(text.contains("StorageAccountAlreadyTaken"), "{text}");
    assert!(text.contains("resources_id"), "{text}");
}

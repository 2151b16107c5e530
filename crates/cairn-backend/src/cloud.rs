//! Azure Blob Storage, Backblaze B2, Google Cloud Storage and OpenStack
//! Swift through opendal,
//! with restic's repository strings and environment variables. These are
//! built and checked for their settings but, unlike S3, not tested
//! against a live service.
//!
//! - **Azure** `azure:container:/prefix`: `AZURE_ACCOUNT_NAME` with
//!   `AZURE_ACCOUNT_KEY` or `AZURE_ACCOUNT_SAS` (a SAS token, with or
//!   without its leading `?`); `AZURE_ENDPOINT_SUFFIX` (default
//!   `core.windows.net`) gives `https://ACCOUNT.blob.SUFFIX`. The container
//!   must exist: unlike restic, `init` does not create it.
//! - **B2** `b2:bucket:prefix`: `B2_ACCOUNT_ID` (the application key's ID)
//!   and `B2_ACCOUNT_KEY`. The bucket's ID is looked up with the native
//!   API when the backend is opened; the bucket must exist.
//! - **Swift** `swift:container:/prefix`: a pre-authenticated
//!   `OS_STORAGE_URL` and `OS_AUTH_TOKEN` (restic's token mode). Keystone
//!   and v1 logins (`OS_AUTH_URL`, `OS_USERNAME`, ...) are not supported.
//!
//! - **GCS** `gs:bucket:/prefix`: `GOOGLE_ACCESS_TOKEN` (a ready OAuth
//!   token), else the service-account JSON file `GOOGLE_APPLICATION_CREDENTIALS`,
//!   else the VM's metadata server, as restic's default credentials. The
//!   bucket must exist: `init` does not create it (restic needs
//!   `GOOGLE_PROJECT_ID` only to create one).

use crate::object_store::{block_on, ObjectStoreBackend};
use crate::{BackendError, Result};
use opendal::Operator;

/// A missing environment variable, named, for `scheme`.
fn need(scheme: &str, vars: &str) -> BackendError {
    BackendError::InvalidOption(format!("{scheme}: {vars} must be set"))
}

fn finish(
    b: impl opendal::Builder,
    display: String,
    client: reqwest::Client,
) -> Result<ObjectStoreBackend> {
    let op = Operator::new(b)
        .map_err(|e| BackendError::InvalidOption(format!("{display}: {}", e.kind())))?
        .finish();
    Ok(ObjectStoreBackend::new(
        crate::object_store::with_client(op, client),
        display,
    ))
}

/// Azure Blob Storage.
pub(crate) fn open_azure(
    container: &str,
    prefix: &str,
    display: String,
    client: reqwest::Client,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ObjectStoreBackend> {
    let get = |k: &str| env(k).filter(|v| !v.is_empty());
    let account = get("AZURE_ACCOUNT_NAME").ok_or_else(|| need("azure", "AZURE_ACCOUNT_NAME"))?;
    let suffix = get("AZURE_ENDPOINT_SUFFIX").unwrap_or_else(|| "core.windows.net".into());
    let mut b = opendal::services::Azblob::default()
        .container(container)
        .root(&format!("/{prefix}"))
        .endpoint(&format!("https://{account}.blob.{suffix}"))
        .account_name(&account);
    match (get("AZURE_ACCOUNT_KEY"), get("AZURE_ACCOUNT_SAS")) {
        (Some(key), _) => b = b.account_key(&key),
        (None, Some(sas)) => b = b.sas_token(sas.trim_start_matches('?')),
        (None, None) => return Err(need("azure", "AZURE_ACCOUNT_KEY or AZURE_ACCOUNT_SAS")),
    }
    finish(b, display, client)
}

/// Backblaze B2.
pub(crate) fn open_b2(
    bucket: &str,
    prefix: &str,
    display: String,
    client: reqwest::Client,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ObjectStoreBackend> {
    let get = |k: &str| env(k).filter(|v| !v.is_empty());
    let (Some(id), Some(key)) = (get("B2_ACCOUNT_ID"), get("B2_ACCOUNT_KEY")) else {
        return Err(need("b2", "B2_ACCOUNT_ID and B2_ACCOUNT_KEY"));
    };
    let bucket_id = block_on(b2_bucket_id(&client, &id, &key, bucket, &display))?;
    let b = opendal::services::B2::default()
        .bucket(bucket)
        .bucket_id(&bucket_id)
        .root(&format!("/{prefix}"))
        .application_key_id(&id)
        .application_key(&key);
    finish(b, display, client)
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct B2Auth {
    account_id: String,
    api_url: String,
    authorization_token: String,
    #[serde(default)]
    allowed: Option<B2Allowed>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct B2Allowed {
    bucket_id: Option<String>,
    bucket_name: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct B2Bucket {
    bucket_id: String,
    bucket_name: String,
}

#[derive(serde::Deserialize)]
struct B2Buckets {
    buckets: Vec<B2Bucket>,
}

/// Logs in with the application key and finds the bucket's ID (a key
/// restricted to one bucket names it in its login answer).
async fn b2_bucket_id(
    client: &reqwest::Client,
    id: &str,
    key: &str,
    bucket: &str,
    display: &str,
) -> Result<String> {
    let fail = |message: String| BackendError::Store {
        context: display.to_string(),
        message,
    };
    let send = |req: reqwest::RequestBuilder, what: &'static str| async move {
        let resp = req.send().await.map_err(|e| {
            BackendError::transient(
                format!("{display} {what}"),
                crate::http_util::chain(&e.without_url()),
            )
        })?;
        let status = resp.status();
        let body = resp.bytes().await.unwrap_or_default();
        if !status.is_success() {
            let message = match status.as_u16() {
                401 => format!("{what}: HTTP 401: check B2_ACCOUNT_ID and B2_ACCOUNT_KEY"),
                code => format!("{what}: HTTP {code}"),
            };
            return Err(BackendError::Store {
                context: display.to_string(),
                message,
            });
        }
        Ok(body)
    };
    let body = send(
        client
            .get("https://api.backblazeb2.com/b2api/v2/b2_authorize_account")
            .basic_auth(id, Some(key)),
        "b2_authorize_account",
    )
    .await?;
    let auth: B2Auth = serde_json::from_slice(&body)
        .map_err(|e| fail(format!("b2_authorize_account: bad answer: {e}")))?;
    if let Some(B2Allowed {
        bucket_id: Some(bid),
        bucket_name: Some(name),
    }) = &auth.allowed
    {
        if name == bucket {
            return Ok(bid.clone());
        }
    }
    let body = send(
        client
            .post(format!("{}/b2api/v2/b2_list_buckets", auth.api_url))
            .header("Authorization", &auth.authorization_token)
            .header("Content-Type", "application/json")
            .body(
                serde_json::json!({ "accountId": auth.account_id, "bucketName": bucket })
                    .to_string(),
            ),
        "b2_list_buckets",
    )
    .await?;
    let list: B2Buckets = serde_json::from_slice(&body)
        .map_err(|e| fail(format!("b2_list_buckets: bad answer: {e}")))?;
    list.buckets
        .into_iter()
        .find(|b| b.bucket_name == bucket)
        .map(|b| b.bucket_id)
        .ok_or_else(|| fail(format!("bucket {bucket:?} does not exist")))
}

/// Google Cloud Storage.
pub(crate) fn open_gcs(
    bucket: &str,
    prefix: &str,
    display: String,
    client: reqwest::Client,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ObjectStoreBackend> {
    let get = |k: &str| env(k).filter(|v| !v.is_empty());
    let mut b = opendal::services::Gcs::default()
        .bucket(bucket)
        .root(&format!("/{prefix}"))
        // Credentials come from `env` only, never from opendal's own
        // reading of the process environment.
        .disable_config_load();
    match (
        get("GOOGLE_ACCESS_TOKEN"),
        get("GOOGLE_APPLICATION_CREDENTIALS"),
    ) {
        (Some(token), _) => b = b.token(token).disable_vm_metadata(),
        (None, Some(path)) => b = b.credential_path(&path).disable_vm_metadata(),
        (None, None) => {}
    }
    finish(b, display, client)
}

/// OpenStack Swift with a pre-authenticated storage URL and token.
pub(crate) fn open_swift(
    container: &str,
    prefix: &str,
    display: String,
    client: reqwest::Client,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ObjectStoreBackend> {
    let get = |k: &str| env(k).filter(|v| !v.is_empty());
    let (Some(url), Some(token)) = (get("OS_STORAGE_URL"), get("OS_AUTH_TOKEN")) else {
        return Err(need(
            "swift",
            "OS_STORAGE_URL and OS_AUTH_TOKEN (Keystone and v1 logins are not supported)",
        ));
    };
    let b = opendal::services::Swift::default()
        .endpoint(&url)
        .container(container)
        .root(&format!("/{prefix}"))
        .token(&token);
    finish(b, display, client)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    fn client() -> reqwest::Client {
        crate::object_store::http_client(&crate::BackendOptions::default(), 1).unwrap()
    }

    #[test]
    fn missing_credentials_name_the_variables_and_nothing_is_sent() {
        let e = open_azure("c", "p", "azure:c:/p".into(), client(), &env(&[])).unwrap_err();
        assert!(e.to_string().contains("AZURE_ACCOUNT_NAME"), "{e}");
        let e = open_azure(
            "c",
            "p",
            "azure:c:/p".into(),
            client(),
            &env(&[("AZURE_ACCOUNT_NAME", "acct")]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("AZURE_ACCOUNT_SAS"), "{e}");
        let e = open_b2("bucket", "p", "b2:bucket:p".into(), client(), &env(&[])).unwrap_err();
        assert!(e.to_string().contains("B2_ACCOUNT_KEY"), "{e}");
        let e = open_swift("c", "p", "swift:c:/p".into(), client(), &env(&[])).unwrap_err();
        assert!(e.to_string().contains("OS_AUTH_TOKEN"), "{e}");
    }

    #[test]
    fn gcs_opens_with_a_token_and_never_shows_it() {
        let vars = [("GOOGLE_ACCESS_TOKEN", "ya29.secret-token")];
        let be = open_gcs("bkt", "repo", "gs:bkt:/repo".into(), client(), &env(&vars)).unwrap();
        use crate::Backend;
        assert_eq!(be.location(), "gs:bkt:/repo");
        assert!(!format!("{be:?}").contains("secret-token"));
        // A credentials file that does not exist is refused when opened
        // or at the first request, naming no secret.
        let vars = [("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/sa.json")];
        let opened = open_gcs("bkt", "repo", "gs:bkt:/repo".into(), client(), &env(&vars));
        if let Ok(be) = opened {
            let e = be.read(crate::FileType::Config, "config").unwrap_err();
            assert!(!e.to_string().contains('\n'), "{e}");
        }
    }

    #[test]
    fn azure_and_swift_open_with_their_variables() {
        let vars = [
            ("AZURE_ACCOUNT_NAME", "acct"),
            ("AZURE_ACCOUNT_SAS", "?sv=2020&sig=abc"),
            ("OS_STORAGE_URL", "http://127.0.0.1:1/v1/AUTH_test"),
            ("OS_AUTH_TOKEN", "tok"),
        ];
        let be = open_azure("c", "p", "azure:c:/p".into(), client(), &env(&vars)).unwrap();
        assert!(!format!("{be:?}").contains("sig=abc"));
        let be = open_swift("c", "p", "swift:c:/p".into(), client(), &env(&vars)).unwrap();
        use crate::Backend;
        assert_eq!(be.location(), "swift:c:/p");
        // Nothing listens on port 1: a transient error, no token in it.
        let e = be.read(crate::FileType::Config, "config").unwrap_err();
        assert!(e.is_transient(), "{e}");
        assert!(!e.to_string().contains("tok\""), "{e}");
    }
}

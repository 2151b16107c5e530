//! Amazon S3 and S3-compatible stores (MinIO, Ceph, moto, ...), as restic
//! reaches them.
//!
//! Repository strings: `s3:host[:port]/bucket/prefix` and
//! `s3:https://host[:port]/bucket/prefix` (HTTPS), `s3:http://...` (plain
//! HTTP); `s3.amazonaws.com` is Amazon's endpoint. Objects are
//! `prefix/config`, `prefix/keys/ID`, ..., `prefix/data/XX/ID`: restic's
//! default layout.
//!
//! Credentials, as restic reads them: `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`; without them the
//! shared files (`~/.aws/credentials`, `AWS_PROFILE`), web identity and
//! ECS credentials, then the EC2 instance metadata service (not when
//! `AWS_EC2_METADATA_DISABLED=true`); with none at all requests are sent
//! unsigned (anonymous access).
//!
//! Options (`-o s3.KEY=VALUE`): `region` (else `AWS_DEFAULT_REGION`, else
//! asked from Amazon for `*.amazonaws.com`, else `us-east-1`),
//! `bucket-lookup=auto|dns|path` (auto: virtual-host style for Amazon,
//! path style elsewhere), `storage-class` (for every object stored),
//! `connections` (requests in flight, default 5), `list-objects-v1`.
//! `layout=default` is accepted; restic's old `s3legacy` layout is not
//! supported. `retries` is accepted and has no effect: Cairn's own retry
//! policy applies to every backend. `--cacert` replaces the trusted roots.
//!
//! `RESTIC_AWS_ASSUME_ROLE_ARN` (and the rest of that family) trades the
//! credentials for a role's, as restic does (see [`crate::assume_role`]).
//!
//! `init` creates a missing bucket (in the region, when it is not
//! `us-east-1`); other commands report a missing bucket as a missing
//! repository.

use crate::assume_role::AssumeRole;
use crate::object_store::{block_on, ObjectStoreBackend};
use crate::{BackendError, BackendOptions, Result};
use opendal::Operator;
use reqsign::{AwsConfig, AwsDefaultLoader, AwsV4Signer};

/// Where and how to reach the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct S3Settings {
    /// `http://host:port` or `https://host`.
    pub endpoint: String,
    pub bucket: String,
    pub prefix: String,
    pub region: Option<String>,
    /// Bucket in the host name (`bucket.s3.amazonaws.com`) rather than
    /// in the path.
    pub virtual_host: bool,
    pub storage_class: Option<String>,
    pub list_objects_v1: bool,
}

/// Reads the location's parts and the `s3.*` options.
pub(crate) fn settings(
    endpoint: &str,
    bucket: &str,
    prefix: &str,
    use_http: bool,
    opts: &BackendOptions,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<S3Settings> {
    if bucket.is_empty() {
        return Err(BackendError::InvalidLocation(
            "s3: bucket name not found".into(),
        ));
    }
    let scheme = if use_http { "http" } else { "https" };
    let mut s = S3Settings {
        endpoint: format!("{scheme}://{endpoint}"),
        bucket: bucket.to_string(),
        prefix: prefix.trim_matches('/').to_string(),
        region: env("AWS_DEFAULT_REGION").filter(|r| !r.is_empty()),
        virtual_host: false,
        storage_class: None,
        list_objects_v1: false,
    };
    let mut lookup = "auto".to_string();
    for (key, value) in opts.namespace("s3") {
        match key {
            "region" if !value.is_empty() => s.region = Some(value.to_string()),
            "bucket-lookup" => lookup = value.to_lowercase(),
            "storage-class" if !value.is_empty() => s.storage_class = Some(value.to_string()),
            "list-objects-v1" => s.list_objects_v1 = parse_bool("s3.list-objects-v1", value)?,
            "layout" if !matches!(value, "" | "default") => {
                return Err(BackendError::InvalidOption(format!(
                    "s3.layout {value:?} is not supported, only \"default\""
                )))
            }
            _ => {}
        }
    }
    let host = endpoint.split(':').next().unwrap_or(endpoint);
    s.virtual_host = match lookup.as_str() {
        // As minio-go: Amazon's endpoints by name, unless the bucket name
        // has dots (they would break the certificate check over HTTPS).
        "" | "auto" => host.ends_with("amazonaws.com") && (use_http || !bucket.contains('.')),
        "dns" => true,
        "path" => false,
        other => {
            return Err(BackendError::InvalidOption(format!(
                "bad bucket-lookup style {other:?} must be \"auto\", \"path\" or \"dns\""
            )))
        }
    };
    Ok(s)
}

fn parse_bool(key: &str, value: &str) -> Result<bool> {
    match value {
        "" | "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(BackendError::InvalidOption(format!(
            "invalid value {value:?} for option {key}"
        ))),
    }
}

/// Opens the bucket a location names; nothing is sent yet, except to ask
/// Amazon for a bucket's region when none is given.
pub(crate) fn open(
    s: S3Settings,
    display: String,
    opts: &BackendOptions,
    connections: usize,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ObjectStoreBackend> {
    let client = crate::object_store::http_client(opts, connections)?;
    let region = match &s.region {
        Some(r) => r.clone(),
        None if s.endpoint.contains("amazonaws.com") => {
            block_on(opendal::services::S3::detect_region(&s.endpoint, &s.bucket))
                .unwrap_or_else(|| "us-east-1".into())
        }
        None => "us-east-1".into(),
    };
    let mut b = opendal::services::S3::default()
        .endpoint(&s.endpoint)
        .bucket(&s.bucket)
        .root(&format!("/{}", s.prefix))
        .region(&region)
        .allow_anonymous();
    let key = env("AWS_ACCESS_KEY_ID").filter(|v| !v.is_empty());
    let secret = env("AWS_SECRET_ACCESS_KEY").filter(|v| !v.is_empty());
    let token = env("AWS_SESSION_TOKEN").filter(|v| !v.is_empty());
    if let (Some(k), Some(sec)) = (&key, &secret) {
        b = b.access_key_id(k).secret_access_key(sec);
        if let Some(t) = &token {
            b = b.session_token(t);
        }
    }
    if env("AWS_EC2_METADATA_DISABLED").as_deref() == Some("true") {
        b = b.disable_ec2_metadata();
    }
    if s.virtual_host {
        b = b.enable_virtual_host_style();
    }
    if let Some(class) = &s.storage_class {
        b = b.default_storage_class(class);
    }
    if s.list_objects_v1 {
        b = b.disable_list_objects_v2();
    }
    let mut aws = AwsConfig::default().from_profile().from_env();
    aws.region = Some(region.clone());
    if key.is_some() && secret.is_some() {
        aws.access_key_id = key;
        aws.secret_access_key = secret;
        aws.session_token = token;
    }
    if let Some(role) = AssumeRole::from_env(env, &region) {
        let temp = assume_role(&role, &client, &aws, &display)?;
        b = b
            .access_key_id(&temp.access_key_id)
            .secret_access_key(&temp.secret_access_key)
            .session_token(temp.session_token.as_deref().unwrap_or_default());
        aws.access_key_id = Some(temp.access_key_id);
        aws.secret_access_key = Some(temp.secret_access_key);
        aws.session_token = temp.session_token;
    }
    let op = Operator::new(b)
        .map_err(|e| BackendError::InvalidOption(format!("{display}: {}", e.kind())))?
        .finish();
    let op = crate::object_store::with_client(op, client.clone());
    let bucket_url = bucket_url(&s, &region);
    let what = display.clone();
    let make = move || {
        block_on(make_bucket(
            &client,
            &bucket_url,
            &region,
            aws.clone(),
            &what,
        ))
    };
    Ok(ObjectStoreBackend::new(op, display).with_create_container(Box::new(make)))
}

/// The role's temporary credentials, for the source credentials `aws`
/// finds (see [`crate::assume_role`]).
fn assume_role(
    role: &AssumeRole,
    client: &reqwest::Client,
    aws: &AwsConfig,
    display: &str,
) -> Result<reqsign::AwsCredential> {
    let source = block_on(AwsDefaultLoader::new(client.clone(), aws.clone()).load())
        .map_err(|e| BackendError::Store {
            context: format!("{display} AssumeRole"),
            message: format!("cannot load AWS credentials: {e}").replace('\n', " "),
        })?
        .ok_or_else(|| {
            BackendError::InvalidOption(format!(
                "{display}: RESTIC_AWS_ASSUME_ROLE_ARN is set but no AWS credentials were found to assume the role with"
            ))
        })?;
    block_on(role.credentials(client, &source))
}

/// The bucket's URL for `PUT` (create bucket), as opendal addresses it.
fn bucket_url(s: &S3Settings, region: &str) -> String {
    let mut endpoint = s.endpoint.trim_end_matches('/').to_string();
    if endpoint == "https://s3.amazonaws.com" && region != "us-east-1" {
        endpoint = format!("https://s3.{region}.amazonaws.com");
    }
    if s.virtual_host {
        endpoint.replacen("://", &format!("://{}.", s.bucket), 1)
    } else {
        format!("{endpoint}/{}", s.bucket)
    }
}

/// Creates the bucket (restic's `init` does too). A bucket that exists and
/// is ours already is fine.
async fn make_bucket(
    client: &reqwest::Client,
    url: &str,
    region: &str,
    aws: AwsConfig,
    display: &str,
) -> Result<()> {
    let context = format!("{display} create bucket");
    let cred = AwsDefaultLoader::new(client.clone(), aws)
        .load()
        .await
        .map_err(|e| BackendError::Store {
            context: context.clone(),
            message: format!("cannot load AWS credentials: {e}").replace('\n', " "),
        })?;
    let body = if region == "us-east-1" {
        String::new()
    } else {
        format!(
            "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <LocationConstraint>{region}</LocationConstraint></CreateBucketConfiguration>"
        )
    };
    let mut req = client
        .put(url)
        .body(body)
        .build()
        .map_err(|e| BackendError::InvalidLocation(format!("{display}: {e}")))?;
    if let Some(cred) = cred {
        AwsV4Signer::new("s3", region)
            .sign(&mut req, &cred)
            .map_err(|e| BackendError::Store {
                context: context.clone(),
                message: format!("cannot sign the request: {e}"),
            })?;
    }
    let resp = client.execute(req).await.map_err(|e| {
        BackendError::transient(&context, crate::http_util::chain(&e.without_url()))
    })?;
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let tag = |t: &str| {
        let start = text.find(&format!("<{t}>"))? + t.len() + 2;
        let len = text[start..].find('<')?;
        Some(text[start..start + len].to_string())
    };
    match (status, tag("Code").as_deref()) {
        (200..=299, _) | (409, Some("BucketAlreadyOwnedByYou")) => Ok(()),
        (_, code) => {
            let code = code.unwrap_or("no error code");
            let msg = tag("Message").unwrap_or_default();
            let message = format!("HTTP {status}: {code}: {msg}");
            if status >= 500 || status == 429 {
                Err(BackendError::transient(context, message))
            } else {
                Err(BackendError::Store { context, message })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str, opts: &[&str], env: &[(&str, &str)]) -> Result<S3Settings> {
        let crate::Location::S3 {
            endpoint,
            bucket,
            prefix,
            use_http,
        } = crate::Location::parse_with_env(s, |_| None).unwrap()
        else {
            panic!("{s} is not s3")
        };
        let mut o = BackendOptions::default();
        o.set_extended(opts).unwrap();
        let env = |k: &str| {
            env.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        };
        settings(&endpoint, &bucket, &prefix, use_http, &o, &env)
    }

    #[test]
    fn restic_strings_become_endpoints_buckets_and_prefixes() {
        let s = parse("s3:http://127.0.0.1:9000/bkt/some/prefix", &[], &[]).unwrap();
        assert_eq!(s.endpoint, "http://127.0.0.1:9000");
        assert_eq!(
            (s.bucket.as_str(), s.prefix.as_str()),
            ("bkt", "some/prefix")
        );
        assert!(!s.virtual_host);
        assert_eq!(bucket_url(&s, "us-east-1"), "http://127.0.0.1:9000/bkt");

        let s = parse("s3:s3.amazonaws.com/bkt/p", &[], &[]).unwrap();
        assert_eq!(s.endpoint, "https://s3.amazonaws.com");
        assert!(s.virtual_host);
        assert_eq!(
            bucket_url(&s, "eu-west-1"),
            "https://bkt.s3.eu-west-1.amazonaws.com"
        );
        let s = parse("s3:s3.amazonaws.com/my.bkt", &[], &[]).unwrap();
        assert!(!s.virtual_host, "dotted names use the path over https");
        assert_eq!(s.prefix, "");

        let s = parse("s3:https://minio.local/b/p", &["s3.bucket-lookup=dns"], &[]).unwrap();
        assert!(s.virtual_host);
        assert_eq!(bucket_url(&s, "x"), "https://b.minio.local");
    }

    #[test]
    fn cacert_files_are_read_when_the_backend_opens() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("ca.pem");
        std::fs::write(&bad, "not a certificate").unwrap();
        let opts = BackendOptions {
            cacerts: vec![bad],
            ..BackendOptions::default()
        };
        let s = parse("s3:https://minio.local/b/p", &[], &[]).unwrap();
        let e = open(s, "s3:https://minio.local/b/p".into(), &opts, 1, &|_| None).unwrap_err();
        assert!(e.to_string().contains("--cacert"), "{e}");
    }

    #[test]
    fn options_and_environment_are_read_as_restic_reads_them() {
        let env = [("AWS_DEFAULT_REGION", "eu-central-1")];
        let s = parse("s3:h/b", &[], &env).unwrap();
        assert_eq!(s.region.as_deref(), Some("eu-central-1"));
        let s = parse(
            "s3:h/b",
            &[
                "s3.region=us-west-2",
                "s3.storage-class=STANDARD_IA",
                "s3.list-objects-v1=true",
            ],
            &env,
        )
        .unwrap();
        assert_eq!(s.region.as_deref(), Some("us-west-2"));
        assert_eq!(s.storage_class.as_deref(), Some("STANDARD_IA"));
        assert!(s.list_objects_v1);
        let e = parse("s3:h/b", &["s3.bucket-lookup=sideways"], &[]).unwrap_err();
        assert!(e.to_string().contains("bad bucket-lookup style"), "{e}");
        assert!(parse("s3:h/b", &["s3.layout=s3legacy"], &[]).is_err());
        assert!(parse("s3:h/b", &["s3.list-objects-v1=maybe"], &[]).is_err());
        assert!(parse("s3:h", &[], &[]).is_err(), "no bucket");
    }
}

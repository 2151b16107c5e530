//! restic's `RESTIC_AWS_ASSUME_ROLE_*` for S3: the credentials found the
//! usual way are traded at STS (`AssumeRole`) for temporary ones of the
//! role, which then sign every request.
//!
//! Variables, as restic reads them: `RESTIC_AWS_ASSUME_ROLE_ARN` (the
//! role; nothing happens without it), `_SESSION_NAME`, `_EXTERNAL_ID`,
//! `_POLICY` (a session policy, JSON), `_REGION` (default: the bucket's
//! region) and `_STS_ENDPOINT` (default: `https://sts.REGION.amazonaws.com`,
//! `.com.cn` for `cn-` regions, `https://sts.amazonaws.com` without a
//! region). The temporary credentials last an hour (STS's default) and
//! are not renewed: a command that runs longer fails with expired
//! credentials.

use crate::{BackendError, Result};
use reqsign::{AwsCredential, AwsV4Signer};

/// What `RESTIC_AWS_ASSUME_ROLE_*` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AssumeRole {
    pub role_arn: String,
    pub session_name: String,
    pub external_id: Option<String>,
    pub policy: Option<String>,
    pub region: String,
    pub sts_endpoint: String,
}

impl AssumeRole {
    /// The request the environment makes, `None` without a role ARN.
    /// `bucket_region` is the region the S3 backend uses.
    pub fn from_env(
        env: &dyn Fn(&str) -> Option<String>,
        bucket_region: &str,
    ) -> Option<AssumeRole> {
        let var = |name: &str| env(name).filter(|v| !v.is_empty());
        let role_arn = var("RESTIC_AWS_ASSUME_ROLE_ARN")?;
        let region = var("RESTIC_AWS_ASSUME_ROLE_REGION").unwrap_or_else(|| bucket_region.into());
        let sts_endpoint =
            var("RESTIC_AWS_ASSUME_ROLE_STS_ENDPOINT").unwrap_or_else(|| match region.as_str() {
                "" => "https://sts.amazonaws.com".into(),
                r if r.starts_with("cn-") => format!("https://sts.{r}.amazonaws.com.cn"),
                r => format!("https://sts.{r}.amazonaws.com"),
            });
        let session_name = var("RESTIC_AWS_ASSUME_ROLE_SESSION_NAME").unwrap_or_else(|| {
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            format!("cairn-{secs}")
        });
        Some(AssumeRole {
            role_arn,
            session_name,
            external_id: var("RESTIC_AWS_ASSUME_ROLE_EXTERNAL_ID"),
            policy: var("RESTIC_AWS_ASSUME_ROLE_POLICY"),
            region,
            sts_endpoint,
        })
    }

    /// The form fields of the `AssumeRole` call.
    fn form(&self) -> Vec<(&'static str, &str)> {
        let mut form = vec![
            ("Action", "AssumeRole"),
            ("Version", "2011-06-15"),
            ("RoleArn", self.role_arn.as_str()),
            ("RoleSessionName", self.session_name.as_str()),
        ];
        if let Some(id) = &self.external_id {
            form.push(("ExternalId", id));
        }
        if let Some(policy) = &self.policy {
            form.push(("Policy", policy));
        }
        form
    }

    /// Calls STS with `source` (the credentials found the usual way) and
    /// returns the role's temporary credentials.
    pub async fn credentials(
        &self,
        client: &reqwest::Client,
        source: &AwsCredential,
    ) -> Result<AwsCredential> {
        let context = format!("AssumeRole {} at {}", self.role_arn, self.sts_endpoint);
        let fail = |message: String| BackendError::Store {
            context: context.clone(),
            message,
        };
        let mut req = client
            .post(&self.sts_endpoint)
            .form(&self.form())
            .build()
            .map_err(|e| fail(format!("invalid request: {e}")))?;
        let region = if self.region.is_empty() {
            "us-east-1"
        } else {
            &self.region
        };
        AwsV4Signer::new("sts", region)
            .sign(&mut req, source)
            .map_err(|e| fail(format!("cannot sign the request: {e}")))?;
        let resp = client.execute(req).await.map_err(|e| {
            BackendError::transient(&context, crate::http_util::chain(&e.without_url()))
        })?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            let reason = xml_tag(&text, "Message").unwrap_or_default();
            return Err(fail(format!("HTTP {}: {reason}", status.as_u16())));
        }
        let field =
            |t: &str| xml_tag(&text, t).ok_or_else(|| fail(format!("STS answer without {t}")));
        Ok(AwsCredential {
            access_key_id: field("AccessKeyId")?,
            secret_access_key: field("SecretAccessKey")?,
            session_token: Some(field("SessionToken")?),
            expires_in: None,
        })
    }
}

/// The text of the first `<tag>` element of `xml`.
fn xml_tag(xml: &str, tag: &str) -> Option<String> {
    let start = xml.find(&format!("<{tag}>"))? + tag.len() + 2;
    let len = xml[start..].find('<')?;
    Some(xml[start..start + len].to_string())
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

    #[test]
    fn variables_are_read_as_restic_reads_them() {
        assert_eq!(AssumeRole::from_env(&env(&[]), "eu-west-1"), None);
        let r = AssumeRole::from_env(
            &env(&[("RESTIC_AWS_ASSUME_ROLE_ARN", "arn:aws:iam::1:role/r")]),
            "eu-west-1",
        )
        .unwrap();
        assert_eq!(r.sts_endpoint, "https://sts.eu-west-1.amazonaws.com");
        assert_eq!(r.region, "eu-west-1");
        assert!(r.session_name.starts_with("cairn-"));
        let r = AssumeRole::from_env(
            &env(&[
                ("RESTIC_AWS_ASSUME_ROLE_ARN", "arn"),
                ("RESTIC_AWS_ASSUME_ROLE_REGION", "cn-north-1"),
                ("RESTIC_AWS_ASSUME_ROLE_SESSION_NAME", "s"),
                ("RESTIC_AWS_ASSUME_ROLE_EXTERNAL_ID", "x"),
                ("RESTIC_AWS_ASSUME_ROLE_POLICY", "{}"),
            ]),
            "us-east-1",
        )
        .unwrap();
        assert_eq!(r.sts_endpoint, "https://sts.cn-north-1.amazonaws.com.cn");
        assert_eq!(
            r.form(),
            [
                ("Action", "AssumeRole"),
                ("Version", "2011-06-15"),
                ("RoleArn", "arn"),
                ("RoleSessionName", "s"),
                ("ExternalId", "x"),
                ("Policy", "{}")
            ]
        );
    }

    #[test]
    fn credentials_are_read_from_the_answer() {
        let xml = "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>AK</AccessKeyId><SecretAccessKey>SK</SecretAccessKey><SessionToken>T</SessionToken></Credentials></AssumeRoleResult></AssumeRoleResponse>";
        assert_eq!(xml_tag(xml, "AccessKeyId").as_deref(), Some("AK"));
        assert_eq!(xml_tag(xml, "SessionToken").as_deref(), Some("T"));
        assert_eq!(xml_tag(xml, "Nope"), None);
    }
}

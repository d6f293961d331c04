//! The digest of a manifest, as the registry served it. Pure: header and
//! bytes in, a digest or the reason there is none out.
//!
//! A manifest's digest is the hash of its exact bytes (OCI image spec,
//! "Digests"). `Docker-Content-Digest` only repeats it, and is missing in
//! practice: ECR (distribution/distribution#3792), static or S3-backed
//! registries and proxies that strip headers answer manifest GETs without
//! it. Clients then hash what they received (containerd/containerd#3238;
//! distribution PR #2384). The bytes depend on the `Accept` list sent
//! (registry lab notes §3.3), so this is only ever given the body of a GET
//! made with the full list.
//!
//! When the header is there, the bytes must agree with it. A header that
//! names another manifest (a proxy mixing up its answers, a cache serving
//! one entry's headers with another's body) would otherwise send a delete
//! to the wrong manifest: then neither is trusted ([`Problem::Mismatch`]).
//!
//! Docker schema 1 is the exception: its digest is that of the payload
//! without its JWS signatures, not of the bytes served, so the header is
//! taken as it is, and without one the digest is unknown.

use sha2::{Digest as _, Sha256, Sha512};

/// Where a manifest's digest came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `Docker-Content-Digest`, checked against the bytes.
    Checked,
    /// Computed from the bytes: the registry sent no `Docker-Content-Digest`.
    Computed,
    /// `Docker-Content-Digest` of a schema 1 manifest, which cannot be
    /// checked against the bytes (see the module documentation).
    Unchecked,
}

/// Why a manifest has no digest we can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The header and the bytes disagree: `header` is what the registry
    /// said, `computed` what the bytes hash to (same algorithm).
    Mismatch { header: String, computed: String },
    /// The header names an algorithm we cannot compute (the OCI image spec
    /// registers `sha256` and `sha512`).
    UnknownAlgorithm { header: String },
    /// A schema 1 manifest without a header: its digest cannot be computed
    /// from the bytes served.
    Schema1WithoutHeader,
}

/// `sha256:<hex>` (or `sha512:`) of `body`; `None` for another algorithm.
pub fn of_bytes(algorithm: &str, body: &[u8]) -> Option<String> {
    let hex = match algorithm {
        "sha256" => hex(&Sha256::digest(body)),
        "sha512" => hex(&Sha512::digest(body)),
        _ => return None,
    };
    Some(format!("{algorithm}:{hex}"))
}

/// The digest of a manifest served with `header` (`Docker-Content-Digest`,
/// trimmed, `None` when absent or empty), `content_type` and `body`.
pub fn verify(
    header: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<(String, Source), Problem> {
    let schema1 = is_schema1(content_type, body);
    let Some(header) = header else {
        if schema1 {
            return Err(Problem::Schema1WithoutHeader);
        }
        let computed = of_bytes("sha256", body).expect("sha256 is known");
        return Ok((computed, Source::Computed));
    };
    if schema1 {
        return Ok((header.to_string(), Source::Unchecked));
    }
    let algorithm = header.split_once(':').map_or("", |(a, _)| a);
    let Some(computed) = of_bytes(&algorithm.to_ascii_lowercase(), body) else {
        return Err(Problem::UnknownAlgorithm {
            header: header.to_string(),
        });
    };
    if computed.eq_ignore_ascii_case(header) {
        Ok((computed, Source::Checked))
    } else {
        Err(Problem::Mismatch {
            header: header.to_string(),
            computed,
        })
    }
}

/// Whether a manifest is Docker schema 1: by its media type, or, when that
/// says nothing useful (`application/json`, `application/octet-stream`),
/// by `"schemaVersion": 1` in the body.
fn is_schema1(content_type: Option<&str>, body: &[u8]) -> bool {
    if content_type
        .is_some_and(|t| t.starts_with("application/vnd.docker.distribution.manifest.v1"))
    {
        return true;
    }
    #[derive(serde::Deserialize)]
    struct Version {
        #[serde(rename = "schemaVersion")]
        schema_version: Option<u64>,
    }
    serde_json::from_slice::<Version>(body).is_ok_and(|v| v.schema_version == Some(1))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] =
        br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#;

    fn sha256(body: &[u8]) -> String {
        of_bytes("sha256", body).unwrap()
    }

    #[test]
    fn the_digest_is_the_hash_of_the_bytes() {
        // The empty config blob of throw-away manifests, whose digest is known.
        assert_eq!(
            sha256(b"{}"),
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(of_bytes("md5", b"{}"), None);
        assert_eq!(
            of_bytes("sha512", b"{}").unwrap(),
            "sha512:27c74670adb75075fad058d5ceaf7b20c4e7786c83bae8a32f626f9782af34c9a33c2046ef60fd2a7878d378e29fec851806bbd9a67878f3a9f1cda4830763fd"
        );
    }

    #[test]
    fn a_missing_header_is_computed_and_a_matching_one_checked() {
        let d = sha256(BODY);
        assert_eq!(
            verify(
                None,
                Some("application/vnd.oci.image.manifest.v1+json"),
                BODY
            ),
            Ok((d.clone(), Source::Computed))
        );
        assert_eq!(
            verify(Some(&d), None, BODY),
            Ok((d.clone(), Source::Checked))
        );
        // Hex digits in capitals are the same digest.
        assert_eq!(
            verify(
                Some(&d.to_uppercase().replace("SHA256", "sha256")),
                None,
                BODY
            ),
            Ok((d, Source::Checked))
        );
        let d512 = of_bytes("sha512", BODY).unwrap();
        assert_eq!(verify(Some(&d512), None, BODY), Ok((d512, Source::Checked)));
    }

    #[test]
    fn a_header_the_bytes_contradict_is_trusted_no_more_than_the_bytes() {
        let other = sha256(b"another manifest");
        assert_eq!(
            verify(Some(&other), None, BODY),
            Err(Problem::Mismatch {
                header: other,
                computed: sha256(BODY)
            })
        );
        assert!(matches!(
            verify(Some("sha256:not-hex"), None, BODY),
            Err(Problem::Mismatch { .. })
        ));
        assert_eq!(
            verify(Some("blake3:abc"), None, BODY),
            Err(Problem::UnknownAlgorithm {
                header: "blake3:abc".into()
            })
        );
        assert!(matches!(
            verify(Some("no-algorithm"), None, BODY),
            Err(Problem::UnknownAlgorithm { .. })
        ));
    }

    #[test]
    fn schema_1_digests_are_not_the_bytes_hash() {
        let signed =
            br#"{"schemaVersion":1,"name":"a","tag":"b","signatures":[{"protected":"x"}]}"#;
        let d = sha256(b"the payload without signatures");
        for content_type in [
            Some("application/vnd.docker.distribution.manifest.v1+prettyjws"),
            Some("application/json"),
            None,
        ] {
            assert_eq!(
                verify(Some(&d), content_type, signed),
                Ok((d.clone(), Source::Unchecked)),
                "{content_type:?}"
            );
            assert_eq!(
                verify(None, content_type, signed),
                Err(Problem::Schema1WithoutHeader)
            );
        }
    }
}

//! JWTs bound to a tenant, against the real binary: two tenants trusting one identity provider
//! (same issuer and audience) never accept each other's users, and configurations that would
//! let them are refused with `identity_issuer_shared`.

mod common;

use common::*;
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};

const B64: data_encoding::Encoding = data_encoding::BASE64URL_NOPAD;
const ISSUER: &str = "https://login.shared.example";

fn jwt(key: &SigningKey, claims: &Value) -> String {
    let header = B64.encode(
        json!({"alg": "EdDSA", "typ": "JWT", "kid": "main"})
            .to_string()
            .as_bytes(),
    );
    let payload = B64.encode(claims.to_string().as_bytes());
    let signature = key.sign(format!("{header}.{payload}").as_bytes());
    format!("{header}.{payload}.{}", B64.encode(&signature.to_bytes()))
}

fn identity(signing: &SigningKey, tenant_claim: Option<&str>) -> Value {
    let jwks = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": "main",
                                "x": B64.encode(signing.verifying_key().as_bytes())}]});
    let mut body = json!({"issuer": ISSUER, "audience": "steward", "jwks": jwks});
    if let Some(claim) = tenant_claim {
        body["tenant_claim"] = json!(claim);
    }
    body
}

/// An admin of the shared provider, with `extra` claims (the tenant binding).
fn admin_token(signing: &SigningKey, extra: Value) -> String {
    let mut claims = json!({"iss": ISSUER, "aud": "steward", "sub": "admin-9", "exp": chrono::Utc::now().timestamp() + 300, "roles": ["admin"]});
    for (name, value) in extra.as_object().unwrap() {
        claims[name] = value.clone();
    }
    jwt(signing, &claims)
}

#[test]
fn tenants_sharing_an_issuer_and_audience_never_accept_each_others_tokens() {
    let mut deployment = Deployment::init();
    let server = deployment.start(&[]);
    let api = server.api();
    let a = tenant_with_keys(&api, &deployment.operator_key, "tenant-a");
    let b = tenant_with_keys(&api, &deployment.operator_key, "tenant-b");
    let signing = SigningKey::from_bytes(&[21u8; 32]);

    // A alone trusts the provider, unbound: allowed (the issuer is A's alone).
    api.put(
        &a.path("/identity"),
        Some(&a.admin),
        &identity(&signing, None),
    )
    .expect(200, "A unbound");
    // B may not trust it as well while A is unbound, bound or not.
    api.put(
        &b.path("/identity"),
        Some(&b.admin),
        &identity(&signing, None),
    )
    .expect_problem(400, "identity_issuer_shared", "B unbound");
    api.put(
        &b.path("/identity"),
        Some(&b.admin),
        &identity(&signing, Some("org_id")),
    )
    .expect_problem(400, "identity_issuer_shared", "B bound, A not");
    // Once A names a claim, B must name the same one.
    let a_bound = api
        .put(
            &a.path("/identity"),
            Some(&a.admin),
            &identity(&signing, Some("org_id")),
        )
        .expect(200, "A bound")
        .body;
    assert_eq!(a_bound["tenant_claim"], "org_id");
    api.put(
        &b.path("/identity"),
        Some(&b.admin),
        &identity(&signing, Some("tenant")),
    )
    .expect_problem(400, "identity_issuer_shared", "another claim");
    api.put(
        &b.path("/identity"),
        Some(&b.admin),
        &identity(&signing, Some("org_id")),
    )
    .expect(200, "B bound by the same claim");
    // A cannot drop its binding now that B shares the issuer.
    api.put(
        &a.path("/identity"),
        Some(&a.admin),
        &identity(&signing, None),
    )
    .expect_problem(400, "identity_issuer_shared", "A unbinding");
    api.put(
        &a.path("/identity"),
        Some(&a.admin),
        &identity(&signing, Some("aud")),
    )
    .expect_problem(400, "invalid_identity", "a reserved claim");
    assert_eq!(
        api.get(&a.path("/identity"), Some(&a.admin))
            .expect(200, "A's identity")
            .body["tenant_claim"],
        "org_id"
    );

    // A token for B: B's keys, never A's.
    let for_b = admin_token(&signing, json!({"org_id": "tenant-b"}));
    api.get(&b.path("/keys"), Some(&for_b))
        .expect(200, "B's admin lists B's keys");
    api.get(&a.path("/keys"), Some(&for_b)).expect_problem(
        401,
        "unauthenticated",
        "a token for B on A",
    );
    let for_a = admin_token(&signing, json!({"org_id": "tenant-a"}));
    api.get(&a.path("/keys"), Some(&for_a))
        .expect(200, "A's admin lists A's keys");
    api.get(&b.path("/keys"), Some(&for_a)).expect_problem(
        401,
        "unauthenticated",
        "a token for A on B",
    );
    // No claim, or a claim that is not exactly the tenant: refused by both.
    for extra in [
        json!({}),
        json!({"org_id": ["tenant-a", "tenant-b"]}),
        json!({"org_id": "tenant-"}),
        json!({"tenant": "tenant-a"}),
    ] {
        let token = admin_token(&signing, extra.clone());
        for keys in [&a, &b] {
            api.get(&keys.path("/keys"), Some(&token)).expect_problem(
                401,
                "unauthenticated",
                &format!("claims {extra}"),
            );
        }
    }
}

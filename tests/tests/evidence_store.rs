//! The evidence store's contract, kept by both adapters: the S3 one against moto and the in-memory
//! one the phases' unit tests use. A store that answered `Ok` to everything would fail here.

use harness::{BUCKET, Moto, create_bucket};
use tourniquet_aws::ledger::EvidenceObject;
use tourniquet_aws::memory::MemoryEvidence;
use tourniquet_aws::ports::EvidenceStore;
use tourniquet_aws::sdk::S3Evidence;

fn object(key: &str, text: &str) -> EvidenceObject {
    EvidenceObject::json(key.to_owned(), &serde_json::json!({ "text": text }))
}

/// What every evidence store must do, checked by reading back through the same port.
async fn keeps_the_contract(store: &dyn EvidenceStore) {
    // GIVEN two objects of one incident and one of another
    let first = object("incidents/IR-1/20261208T010000.000Z/event.json", "first");
    let second = object("incidents/IR-1/20261208T010000.000Z/report.json", "second");
    let other = object("incidents/IR-2/20261208T010000.000Z/event.json", "other");
    for o in [&second, &first, &other] {
        store.put(o, None).await.expect("a new key is stored");
    }

    // THEN each reads back as stored, and a listing is the prefix's keys in order
    let read = store.get(&first.key, None).await.unwrap();
    assert_eq!(read, first.body);
    let listed = store.list("incidents/IR-1/").await.unwrap();
    assert_eq!(listed, [first.key.clone(), second.key.clone()]);
    let versions = store.versions("incidents/IR-1/").await.unwrap();
    assert_eq!(versions.values().copied().collect::<Vec<_>>(), [1, 1]);

    // WHEN the same key is written again
    let again = object(&first.key, "rewritten");
    let err = store
        .put(&again, None)
        .await
        .expect_err("write-once: an existing key is refused");

    // THEN it is refused by its code, and the first object is untouched
    assert!(err.is("PreconditionFailed"), "{err}");
    assert!(
        err.to_string()
            .starts_with("PutObject failed: PreconditionFailed"),
        "{err}"
    );
    assert_eq!(store.get(&first.key, None).await.unwrap(), first.body);

    // AND a key that is not there is NoSuchKey, said in a sentence
    let missing = store
        .get("incidents/IR-1/nothing.json", None)
        .await
        .expect_err("nothing is there");
    assert!(missing.is("NoSuchKey"), "{missing}");
    assert!(!missing.to_string().contains("Unhandled"), "{missing}");
}

#[tokio::test]
async fn the_s3_store_keeps_the_evidence_contract() {
    let moto = Moto::start();
    let s3 = moto.s3().await;
    create_bucket(&s3).await;
    keeps_the_contract(&S3Evidence::new(s3, BUCKET)).await;
}

#[tokio::test]
async fn the_in_memory_store_keeps_the_evidence_contract() {
    keeps_the_contract(&MemoryEvidence::new()).await;
}

#[tokio::test]
async fn an_unreachable_store_says_so_in_a_sentence() {
    // GIVEN an S3 endpoint nobody listens on, and no retries
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url("http://127.0.0.1:9")
        .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
            aws_sdk_s3::config::Credentials::for_tests(),
        ))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .build();
    let store = S3Evidence::new(harness::s3_client(&sdk), BUCKET);

    // WHEN it is listed
    let err = store.list("incidents/").await.expect_err("nothing answers");

    // THEN the error names the operation and the failure, with no Rust debug output
    let text = err.to_string();
    assert!(text.starts_with("ListObjectsV2 failed: "), "{text}");
    assert!(!text.contains("Some(") && !text.contains(" {"), "{text}");
    assert!(err.code.is_none());
    assert!(
        std::error::Error::source(&err).is_some(),
        "the SDK error is kept as the source"
    );
}

//! Table creation for tests and local development (deployments create the table from the
//! infrastructure template): on-demand capacity, the `gsi1` index with every attribute projected,
//! and TTL on `expires_at`. Idempotent, so it can run on every start against an emulator.

use super::item::{EXPIRES_AT, GSI1, GSI1PK, GSI1SK, PK, SK};
use crate::AwsError;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType, ScalarAttributeType,
    TableStatus, TimeToLiveSpecification, TimeToLiveStatus,
};
use aws_sdk_dynamodb::Client;
use std::time::{Duration, Instant};

const ACTIVE_TIMEOUT: Duration = Duration::from_secs(300);

fn setup<E: std::error::Error>(what: &str) -> impl Fn(E) -> AwsError + '_ {
    move |e| AwsError::Setup(format!("{what}: {}", DisplayErrorContext(&e)))
}

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, AwsError> {
    KeySchemaElement::builder().attribute_name(name).key_type(kind).build().map_err(setup("key schema"))
}

pub async fn create_table(client: &Client, name: &str) -> Result<(), AwsError> {
    let string_attr = |n: &str| {
        AttributeDefinition::builder().attribute_name(n).attribute_type(ScalarAttributeType::S).build().map_err(setup("attribute"))
    };
    let index = GlobalSecondaryIndex::builder()
        .index_name(GSI1)
        .key_schema(key(GSI1PK, KeyType::Hash)?)
        .key_schema(key(GSI1SK, KeyType::Range)?)
        .projection(Projection::builder().projection_type(ProjectionType::All).build())
        .build()
        .map_err(setup("index"))?;
    let created = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(vec![string_attr(PK)?, string_attr(SK)?, string_attr(GSI1PK)?, string_attr(GSI1SK)?]))
        .key_schema(key(PK, KeyType::Hash)?)
        .key_schema(key(SK, KeyType::Range)?)
        .global_secondary_indexes(index)
        .send()
        .await;
    if let Err(e) = created {
        if !e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) {
            return Err(setup("create table")(e));
        }
    }
    wait_active(client, name).await?;
    let ttl = client.describe_time_to_live().table_name(name).send().await.map_err(setup("describe TTL"))?;
    let status = ttl.time_to_live_description.and_then(|d| d.time_to_live_status);
    if matches!(status, Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)) {
        return Ok(());
    }
    let spec = TimeToLiveSpecification::builder().enabled(true).attribute_name(EXPIRES_AT).build().map_err(setup("TTL"))?;
    client.update_time_to_live().table_name(name).time_to_live_specification(spec).send().await.map_err(setup("enable TTL"))?;
    Ok(())
}

/// Waits until the table and its index are ACTIVE (immediate on emulators, up to minutes on AWS).
async fn wait_active(client: &Client, name: &str) -> Result<(), AwsError> {
    let deadline = Instant::now() + ACTIVE_TIMEOUT;
    loop {
        let out = client.describe_table().table_name(name).send().await.map_err(setup("describe table"))?;
        let table = out.table.ok_or_else(|| AwsError::Setup(format!("table {name} not described")))?;
        let indexes_active = table
            .global_secondary_indexes()
            .iter()
            .all(|ix| ix.index_status.as_ref().is_none_or(|s| *s == aws_sdk_dynamodb::types::IndexStatus::Active));
        if table.table_status == Some(TableStatus::Active) && indexes_active {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(AwsError::Setup(format!("table {name} did not become active within {ACTIVE_TIMEOUT:?}")));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

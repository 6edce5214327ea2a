//! `aos keys bootstrap --aws`: the first admin API key of a serverless deployment, written straight
//! into its DynamoDB table (`AOS_TABLE`) with the same `ApiKeys` the API functions authenticate
//! with, over `aos-aws`'s `DynamoStore`. No API can create the first key: there is no key yet to
//! call it with. `aos serve` makes its own (`<data-dir>/admin.key`).

use anyhow::Context;
use aos_runtime::auth::{ApiKeys, Role};
use std::sync::Arc;

#[derive(clap::Args, Debug)]
pub struct BootstrapArgs {
    /// The store is the serverless deployment's DynamoDB table, named by AOS_TABLE (the stack's
    /// `TableName` output); region, credentials and AWS_ENDPOINT_URL come from the usual AWS
    /// configuration. Required: the only store this command writes to.
    #[arg(long)]
    pub aws: bool,
    /// The table (default: AOS_TABLE).
    #[arg(long, env = "AOS_TABLE")]
    pub table: Option<String>,
    /// The key's tenant: letters, digits, `-` and `_`.
    #[arg(long, default_value = "dev")]
    pub tenant: String,
    /// Create the key even when the tenant has keys already.
    #[arg(long)]
    pub force: bool,
}

pub async fn bootstrap(args: BootstrapArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.aws,
        "--aws is required: `aos keys bootstrap` writes to a serverless deployment's DynamoDB table (`aos serve` creates its own admin key)"
    );
    let table =
        args.table.filter(|t| !t.trim().is_empty()).context("no table: set AOS_TABLE (or --table) to the stack's TableName output")?;
    let tenant = args.tenant;
    anyhow::ensure!(
        !tenant.is_empty() && tenant.len() <= 63 && tenant.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "--tenant: 1 to 63 letters, digits, `-` and `_`, got `{tenant}`"
    );
    let config = aos_aws::sdk_config().await;
    let store = aos_aws::DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), table.trim());
    let keys = ApiKeys::new(Arc::new(store));
    let existing = keys.list(&tenant).await.map_err(|e| anyhow::anyhow!("reading the keys of tenant {tenant} in table {table}: {e}"))?;
    anyhow::ensure!(
        existing.is_empty() || args.force,
        "tenant {tenant} has {} key(s) already ({}); bootstrap creates the first one (--force to add another)",
        existing.len(),
        existing.iter().map(|k| k.prefix.as_str()).collect::<Vec<_>>().join(", ")
    );
    let (key, record) = keys.create(&tenant, Role::Admin).await.map_err(|e| anyhow::anyhow!("writing the key to table {table}: {e}"))?;
    eprintln!("Created admin key {} of tenant {tenant} in table {table}. It is shown once; keep it secret:", record.prefix);
    println!("{key}");
    Ok(())
}

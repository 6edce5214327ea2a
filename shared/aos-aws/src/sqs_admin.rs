//! Queue creation for tests and local development (deployments create queues from the
//! infrastructure template): logical names become valid SQS names, and each spec's dead-letter
//! queue is wired as the queue's RedrivePolicy so SQS itself dead-letters after `max_receives`.

use crate::AwsError;
use aos_core::ports::{QueueError, QueueSpec};
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::QueueAttributeName;
use aws_sdk_sqs::Client;
use std::collections::HashMap;

/// SQS allows 1 to 1000 receives before redrive.
const MAX_RECEIVE_COUNT: u32 = 1000;

fn setup<E: std::error::Error>(what: String) -> impl Fn(E) -> AwsError {
    move |e| AwsError::Setup(format!("{what}: {}", DisplayErrorContext(&e)))
}

/// The SQS name of a logical queue: `prefix` + the name with every character SQS does not allow
/// (only letters, digits, `-` and `_`) replaced by `-`, e.g. `aos-` + `skill.http_call` →
/// `aos-skill-http_call`.
pub fn sqs_queue_name(prefix: &str, logical: &str) -> String {
    let clean = |s: &str| s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect::<String>();
    format!("{}{}", clean(prefix), clean(logical))
}

/// Creates (or finds) one standard queue per spec and returns logical name → queue URL.
pub async fn create_queues(client: &Client, prefix: &str, specs: &[QueueSpec]) -> Result<HashMap<String, String>, AwsError> {
    let mut names: HashMap<String, &str> = HashMap::new();
    for spec in specs {
        let name = sqs_queue_name(prefix, &spec.name);
        if name.len() > 80 {
            return Err(AwsError::Setup(format!("SQS queue name {name} is longer than 80 characters")));
        }
        if let Some(other) = names.insert(name.clone(), &spec.name) {
            return Err(AwsError::Setup(format!("queues `{other}` and `{}` both map to SQS name {name}", spec.name)));
        }
    }
    let mut urls = HashMap::new();
    for spec in specs {
        let name = sqs_queue_name(prefix, &spec.name);
        let out = client.create_queue().queue_name(&name).send().await.map_err(setup(format!("create queue {name}")))?;
        let url = out.queue_url.ok_or_else(|| AwsError::Setup(format!("no URL for queue {name}")))?;
        urls.insert(spec.name.clone(), url);
    }
    for spec in specs {
        let Some(dead) = &spec.dead_letter else { continue };
        let dead_url = urls.get(dead).ok_or_else(|| AwsError::Setup(QueueError::UnknownQueue(dead.clone()).to_string()))?;
        let attrs = client
            .get_queue_attributes()
            .queue_url(dead_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(setup(format!("ARN of queue {dead}")))?;
        let arn = attrs.attributes.and_then(|mut a| a.remove(&QueueAttributeName::QueueArn));
        let arn = arn.ok_or_else(|| AwsError::Setup(format!("no ARN for queue {dead}")))?;
        let policy = serde_json::json!({
            "deadLetterTargetArn": arn,
            "maxReceiveCount": spec.max_receives.clamp(1, MAX_RECEIVE_COUNT),
        });
        let url = urls.get(&spec.name).ok_or_else(|| AwsError::Setup(format!("no URL for queue {}", spec.name)))?;
        client
            .set_queue_attributes()
            .queue_url(url)
            .attributes(QueueAttributeName::RedrivePolicy, policy.to_string())
            .send()
            .await
            .map_err(setup(format!("redrive policy of queue {}", spec.name)))?;
    }
    Ok(urls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logical_names_become_valid_sqs_names() {
        assert_eq!(sqs_queue_name("aos-", "skill.http_call"), "aos-skill-http_call");
        assert_eq!(sqs_queue_name("aos-", "skill.http_call.dlq"), "aos-skill-http_call-dlq");
        assert_eq!(sqs_queue_name("", "orchestrator"), "orchestrator");
    }
}

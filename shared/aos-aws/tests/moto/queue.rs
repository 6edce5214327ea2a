//! SQS behaviour behind the port: redrive to the dead-letter queue by the queue's own policy, and
//! delays rounded up to whole seconds and capped at SQS's maximum.

use super::support::{config, new_queue};
use aos_core::ports::{OutgoingMessage, Queue, QueueSpec};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqs_redrives_after_max_receives() {
    let config = config().await;
    let specs = [
        QueueSpec { name: "work".into(), max_receives: 3, dead_letter: Some("work.dlq".into()) },
        QueueSpec { name: "work.dlq".into(), max_receives: 1, dead_letter: None },
    ];
    let (queue, urls) = new_queue(&config, &specs).await;
    let raw = aws_sdk_sqs::Client::new(&config);
    let attrs = raw
        .get_queue_attributes()
        .queue_url(&urls["work"])
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy)
        .send()
        .await
        .expect("attributes");
    let policy = attrs.attributes.and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy).cloned());
    let policy: serde_json::Value = serde_json::from_str(&policy.expect("a redrive policy")).expect("policy JSON");
    assert_eq!(policy["maxReceiveCount"].to_string().trim_matches('"'), "3");
    assert!(policy["deadLetterTargetArn"].as_str().is_some_and(|arn| arn.ends_with("work-dlq")), "{policy}");

    queue.send("work", vec![OutgoingMessage::new("poison")]).await.expect("send");
    for n in 1..=3 {
        let got = queue.receive("work", 1, Duration::from_secs(1), Duration::from_secs(5)).await.expect("receive");
        assert_eq!(got.iter().map(|m| m.receive_count).collect::<Vec<_>>(), [n], "receive {n}");
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    let none = queue.receive("work", 1, Duration::from_secs(1), Duration::from_secs(2)).await.expect("receive");
    assert!(none.is_empty(), "delivered after max_receives");
    let dead = queue.receive("work.dlq", 1, Duration::from_secs(30), Duration::from_secs(5)).await.expect("receive dlq");
    assert_eq!(dead.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["poison"]);
    queue.delete("work.dlq", &dead[0].receipt).await.expect("delete");
    assert_eq!((queue.depth("work").await.expect("depth"), queue.depth("work.dlq").await.expect("depth")), (0, 0));
    assert_eq!(queue.depth("nope").await, Err(aos_core::ports::QueueError::UnknownQueue("nope".into())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqs_delays_are_whole_seconds_capped_at_fifteen_minutes() {
    let (queue, _) = new_queue(&config().await, &[QueueSpec { name: "d".into(), max_receives: 5, dead_letter: None }]).await;
    let start = Instant::now();
    // 1 ms rounds up to a whole second; two hours (beyond SQS's maximum) is capped, not rejected.
    queue.send("d", vec![OutgoingMessage::new("soon").delayed(Duration::from_millis(1))]).await.expect("send");
    queue.send("d", vec![OutgoingMessage::new("capped").delayed(Duration::from_secs(7200))]).await.expect("send");
    let early = queue.receive("d", 10, Duration::from_secs(60), Duration::ZERO).await.expect("receive");
    assert!(early.is_empty() || start.elapsed() >= Duration::from_secs(1), "a 1 ms delay was not rounded up");
    let got = queue.receive("d", 10, Duration::from_secs(60), Duration::from_secs(5)).await.expect("receive");
    assert_eq!(got.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["soon"]);
    assert!(start.elapsed() >= Duration::from_secs(1));
    assert_eq!(queue.depth("d").await.expect("depth"), 2, "the capped message waits, counted as delayed");
}

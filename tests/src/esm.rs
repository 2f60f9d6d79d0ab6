//! What Lambda's SQS event source mapping does, small: receive a batch from the work queue, invoke
//! the function binary with it (several at once, up to a maximum concurrency; a FIFO queue's
//! message group in order, one batch at a time), delete the messages that succeeded, leave the reported failures (or a whole failed or killed batch) to reappear
//! after the visibility timeout; the queue's redrive policy moves a message to the dead-letter
//! queue after `maxReceiveCount` receives, as SQS does (moto implements it).

use crate::lambda::{self, Invocation};
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};
use futures::StreamExt;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

/// The work queue and its dead-letter queue.
pub struct Queues {
    /// The work queue's URL (`WORK_QUEUE_URL`).
    pub work: String,
    /// The work queue's ARN.
    pub work_arn: String,
    /// The dead-letter queue's URL.
    pub dead: String,
    /// The SQS client they were made with.
    pub sqs: aws_sdk_sqs::Client,
}

impl Queues {
    /// Creates the FIFO queues `tq-work.fifo` (visibility `visibility_seconds`) and
    /// `tq-work-dead.fifo`, redriven after `max_receives` receives, as the template does.
    pub async fn new(
        sdk: &aws_config::SdkConfig,
        visibility_seconds: u32,
        max_receives: u32,
    ) -> Self {
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let dead = sqs
            .create_queue()
            .queue_name("tq-work-dead.fifo")
            .attributes(QueueAttributeName::FifoQueue, "true")
            .send()
            .await
            .expect("dead-letter queue")
            .queue_url
            .expect("url");
        let dead_arn = queue_arn(&sqs, &dead).await;
        let redrive =
            json!({"deadLetterTargetArn": dead_arn, "maxReceiveCount": max_receives}).to_string();
        let work = sqs
            .create_queue()
            .queue_name("tq-work.fifo")
            .attributes(QueueAttributeName::FifoQueue, "true")
            .attributes(
                QueueAttributeName::VisibilityTimeout,
                visibility_seconds.to_string(),
            )
            .attributes(QueueAttributeName::RedrivePolicy, redrive)
            .send()
            .await
            .expect("work queue")
            .queue_url
            .expect("url");
        let work_arn = queue_arn(&sqs, &work).await;
        Self {
            work,
            work_arn,
            dead,
            sqs,
        }
    }

    /// The bodies of the messages in the dead-letter queue (received, not deleted).
    pub async fn dead_letters(&self) -> Vec<Value> {
        let messages = self
            .sqs
            .receive_message()
            .queue_url(&self.dead)
            .max_number_of_messages(10)
            .visibility_timeout(30)
            .send()
            .await
            .expect("receive dead letters")
            .messages
            .unwrap_or_default();
        messages
            .iter()
            .map(|m| serde_json::from_str(m.body().unwrap_or_default()).expect("JSON body"))
            .collect()
    }

    /// Messages in the work queue, visible or in flight.
    pub async fn waiting(&self) -> usize {
        let attributes = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.work)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .unwrap_or_default();
        attributes
            .values()
            .map(|v| v.parse::<usize>().unwrap_or(0))
            .sum()
    }
}

/// A queue's ARN.
pub async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("queue arn")
}

/// One invocation the mapping made: the messages it carried and what the function answered.
#[derive(Debug)]
pub struct Delivery {
    /// The bodies it carried.
    pub bodies: Vec<Value>,
    /// How many times each had been received, this time included.
    pub receive_counts: Vec<u32>,
    /// The function's answer.
    pub invocation: Invocation,
    /// When the invocation started and ended.
    pub span: std::ops::Range<std::time::Instant>,
}

/// The event source mapping of one function binary on one queue.
pub struct Mapping<'a> {
    /// The queues.
    pub queues: &'a Queues,
    /// The function binary.
    pub binary: PathBuf,
    /// Its environment.
    pub env: Vec<(&'static str, String)>,
    /// Messages per invocation (`BatchSize`).
    pub batch_size: usize,
    /// Invocations at once (`ScalingConfig.MaximumConcurrency`).
    pub concurrency: usize,
}

impl Mapping<'_> {
    /// Polls until the work queue is empty (every message deleted or dead-lettered), or
    /// `at_most` passes; returns every invocation, in the order they ended.
    pub async fn drain(&self, at_most: Duration) -> Vec<Delivery> {
        let deadline = tokio::time::Instant::now() + at_most;
        let mut deliveries = Vec::new();
        loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the work queue did not drain within {at_most:?}"
            );
            let messages = self.receive(self.batch_size * self.concurrency).await;
            if messages.is_empty() {
                if self.queues.waiting().await == 0 {
                    return deliveries;
                }
                // Failed items reappear after the visibility timeout.
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
            // A FIFO queue's message group is processed in order, one batch at a time, and
            // stops at a failure (the rest reappear with it); groups run side by side.
            let mut groups: Vec<(String, Vec<Message>)> = Vec::new();
            for message in messages {
                let group = attribute(&message, MessageSystemAttributeName::MessageGroupId)
                    .unwrap_or_else(|| message.message_id().unwrap_or_default().to_owned());
                match groups.iter_mut().find(|(g, _)| *g == group) {
                    Some((_, of_group)) => of_group.push(message),
                    None => groups.push((group, vec![message])),
                }
            }
            let done: Vec<Vec<Delivery>> = futures::stream::iter(groups)
                .map(|(_, of_group)| async move {
                    let mut done = Vec::new();
                    for batch in of_group.chunks(self.batch_size) {
                        let delivery = self.invoke(batch.to_vec()).await;
                        let failed = !matches!(
                            &delivery.invocation.result,
                            Ok(answer) if answer["batchItemFailures"] == json!([])
                        );
                        done.push(delivery);
                        if failed {
                            break;
                        }
                    }
                    done
                })
                .buffer_unordered(self.concurrency)
                .collect()
                .await;
            deliveries.extend(done.into_iter().flatten());
        }
    }

    /// Receives up to `n` visible messages (SQS gives at most 10 per call).
    pub async fn receive(&self, n: usize) -> Vec<Message> {
        let mut got = Vec::new();
        while got.len() < n {
            let want = i32::try_from((n - got.len()).min(10)).unwrap_or(10);
            let batch = self
                .queues
                .sqs
                .receive_message()
                .queue_url(&self.queues.work)
                .max_number_of_messages(want)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await
                .expect("receive")
                .messages
                .unwrap_or_default();
            if batch.is_empty() {
                break;
            }
            got.extend(batch);
        }
        got
    }

    /// One invocation with `batch`, as the mapping sends it; then the deletes.
    async fn invoke(&self, batch: Vec<Message>) -> Delivery {
        let event = self.event(&batch);
        let start = std::time::Instant::now();
        let invocation = lambda::invoke(&self.binary, &self.env, &event).await;
        let span = start..std::time::Instant::now();
        self.settle(&batch, &invocation).await;
        Delivery {
            bodies: batch
                .iter()
                .map(|m| serde_json::from_str(m.body().unwrap_or_default()).unwrap_or(Value::Null))
                .collect(),
            receive_counts: batch.iter().map(receive_count).collect(),
            invocation,
            span,
        }
    }

    /// Deletes what the function reports done: with `ReportBatchItemFailures`, every message
    /// but the failures it names; nothing when the invocation failed as a whole.
    pub async fn settle(&self, batch: &[Message], invocation: &Invocation) {
        let Ok(answer) = &invocation.result else {
            return;
        };
        let failed: Vec<&str> = answer["batchItemFailures"]
            .as_array()
            .map(|f| {
                f.iter()
                    .filter_map(|i| i["itemIdentifier"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        for message in batch {
            if failed.contains(&message.message_id().unwrap_or_default()) {
                continue;
            }
            self.queues
                .sqs
                .delete_message()
                .queue_url(&self.queues.work)
                .receipt_handle(message.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("delete");
        }
    }

    /// The event Lambda builds from a batch of messages.
    pub fn event(&self, batch: &[Message]) -> Value {
        let records: Vec<Value> = batch
            .iter()
            .map(|m| {
                json!({
                    "messageId": m.message_id(),
                    "receiptHandle": m.receipt_handle(),
                    "body": m.body(),
                    "attributes": {
                        "ApproximateReceiveCount": receive_count(m).to_string(),
                        "SentTimestamp": "1764662400000",
                        "SenderId": "AROAEXAMPLE:contain",
                        "ApproximateFirstReceiveTimestamp": "1764662400000"
                    },
                    "messageAttributes": {},
                    "md5OfBody": m.md5_of_body(),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.queues.work_arn,
                    "awsRegion": "us-east-1"
                })
            })
            .collect();
        json!({ "Records": records })
    }
}

fn receive_count(message: &Message) -> u32 {
    attribute(message, MessageSystemAttributeName::ApproximateReceiveCount)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn attribute(message: &Message, name: MessageSystemAttributeName) -> Option<String> {
    message.attributes().and_then(|a| a.get(&name)).cloned()
}

//! A CloudTrail double, honest about what it is: moto has no `LookupEvents`, so this proxy in
//! front of moto passes every IAM and STS call through unchanged, writes a CloudTrail record (the
//! documented record format) for each call made with a credential it was told about, and answers
//! `LookupEvents` (the documented JSON protocol) from exactly those records. The attacker's actions
//! are performed for real against moto through it; the responder reads them back through it.
//!
//! It also logs every request it sees, in arrival order, so a test can tell when the hunt started
//! against the containment writes.

use crate::proxy::{forward, read_request};
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One request as the double saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    /// The query-protocol `Action` (`PutUserPolicy`), or the JSON target's operation
    /// (`LookupEvents`); empty for S3.
    pub action: String,
    /// The access key id that signed it.
    pub key: String,
}

#[derive(Default)]
struct State {
    /// `userIdentity` of each credential whose calls are recorded, by access key id.
    identities: HashMap<String, Value>,
    records: Vec<Value>,
    seen: Vec<Seen>,
}

/// The double; stops when dropped.
pub struct Trail {
    /// Its endpoint: the attacker's and the responder's SDK configurations point here.
    pub endpoint: String,
    account: String,
    state: Arc<Mutex<State>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Trail {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Trail {
    /// Starts the double in front of moto on `upstream` (a loopback port), recording in `account`.
    pub async fn start(upstream: u16, account: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("loopback");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let state: Arc<Mutex<State>> = Arc::default();
        let (shared, account_id) = (state.clone(), account.to_owned());
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, upstream, shared.clone(), account_id.clone()));
            }
        });
        Self {
            endpoint,
            account: account.to_owned(),
            state,
            server,
        }
    }

    /// Records the calls of the IAM user `user` (ARN `arn`) signed with `key`, as CloudTrail
    /// would; the keys its `AssumeRole`/`GetSessionToken` calls are issued are recorded too.
    pub fn record_user(&self, key: &str, user: &str, arn: &str) {
        let identity = json!({
            "type": "IAMUser",
            "principalId": format!("AIDA{}", key.get(4..16).unwrap_or("EXAMPLE")),
            "arn": arn,
            "accountId": self.account,
            "accessKeyId": key,
            "userName": user,
        });
        self.state
            .lock()
            .unwrap()
            .identities
            .insert(key.to_owned(), identity);
    }

    /// Every request seen, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// The records written so far.
    pub fn records(&self) -> Vec<Value> {
        self.state.lock().unwrap().records.clone()
    }
}

async fn serve(stream: TcpStream, upstream: u16, state: Arc<Mutex<State>>, account: String) {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    loop {
        let Some((head, body)) = read_request(&mut read).await else {
            return;
        };
        let header = |name: &str| {
            head.lines().find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_owned())
            })
        };
        // `Credential=AKIA.../20261202/us-east-1/iam/aws4_request`
        let scope: Vec<String> = header("authorization")
            .and_then(|a| {
                let c = a.split("Credential=").nth(1)?;
                Some(c.split(',').next()?.split('/').map(str::to_owned).collect())
            })
            .unwrap_or_default();
        let key = scope.first().cloned().unwrap_or_default();
        let target = header("x-amz-target").unwrap_or_default();
        let form = form(&String::from_utf8_lossy(&body));
        let action = match target.rsplit_once('.') {
            Some((_, operation)) => operation.to_owned(),
            None => form.get("Action").cloned().unwrap_or_default(),
        };
        state.lock().unwrap().seen.push(Seen {
            action: action.clone(),
            key: key.clone(),
        });
        let answer = if action == "LookupEvents" {
            let request: Value = serde_json::from_slice(&body).unwrap_or_default();
            let answer = lookup_events(&state.lock().unwrap().records, &request);
            let text = answer.to_string();
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\n\r\n{text}",
                text.len()
            )
            .into_bytes()
        } else {
            let Ok(answer) = forward(upstream, head.as_bytes(), &body).await else {
                return;
            };
            let identity = state.lock().unwrap().identities.get(&key).cloned();
            if let Some(identity) = identity {
                let region = scope.get(2).cloned().unwrap_or_default();
                let service = scope.get(3).cloned().unwrap_or_default();
                let (record, issued) =
                    record(&account, identity, &region, &service, &form, &answer);
                let mut state = state.lock().unwrap();
                if let Some((key, identity)) = issued {
                    state.identities.insert(key, identity);
                }
                let n = state.records.len();
                let mut record = record;
                record["eventID"] = format!("{n:08x}-7e57-4c1d-9a11-c10d7a11{n:04x}").into();
                state.records.push(record);
            }
            answer
        };
        if write.write_all(&answer).await.is_err() {
            return;
        }
    }
}

/// A query-protocol form body, decoded.
fn form(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            let decode = |s: &str| {
                percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            Some((decode(k), decode(v)))
        })
        .collect()
}

/// The text of the first `<tag>` in `xml`.
fn element<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let start = xml.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(&xml[start..end])
}

/// The CloudTrail record of one call and its answer, and the credential the call issued (its key
/// and `userIdentity`), if any.
fn record(
    account: &str,
    identity: Value,
    region: &str,
    service: &str,
    form: &HashMap<String, String>,
    answer: &[u8],
) -> (Value, Option<(String, Value)>) {
    let text = String::from_utf8_lossy(answer);
    let ok = text.starts_with("HTTP/1.1 200") || text.starts_with("HTTP/1.0 200");
    let name = form.get("Action").cloned().unwrap_or_default();
    // requestParameters: the form's parameters in CloudTrail's lowerCamelCase.
    let parameters: serde_json::Map<String, Value> = form
        .iter()
        .filter(|(k, _)| *k != "Action" && *k != "Version")
        .map(|(k, v)| {
            let mut camel = k.clone();
            camel[..1].make_ascii_lowercase();
            (camel, Value::from(v.clone()))
        })
        .collect();
    let mut issued = None;
    let response = match name.as_str() {
        _ if !ok => Value::Null,
        "CreateUser" => json!({"user": {
            "arn": element(&text, "Arn"),
            "userName": element(&text, "UserName"),
        }}),
        "CreateAccessKey" => json!({"accessKey": {
            "accessKeyId": element(&text, "AccessKeyId"),
            "userName": element(&text, "UserName"),
            "status": "Active",
        }}),
        "AssumeRole" | "GetSessionToken" | "GetFederationToken" => {
            let key = element(&text, "AccessKeyId").unwrap_or_default().to_owned();
            let arn = element(&text, "Arn")
                .map(str::to_owned)
                .unwrap_or_else(|| identity["arn"].as_str().unwrap_or_default().to_owned());
            let issued_identity = match name.as_str() {
                "AssumeRole" => json!({
                    "type": "AssumedRole",
                    "principalId": format!("AROA{}", &key[4..]),
                    "arn": arn,
                    "accountId": account,
                    "accessKeyId": key,
                }),
                _ => {
                    let mut same = identity.clone();
                    same["accessKeyId"] = key.clone().into();
                    same
                }
            };
            issued = Some((key.clone(), issued_identity));
            json!({"credentials": {"accessKeyId": key}, "assumedRoleUser": {"arn": arn}})
        }
        _ => Value::Null,
    };
    let mut record = json!({
        "eventVersion": "1.11",
        "userIdentity": identity,
        "eventTime": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "eventSource": format!("{service}.amazonaws.com"),
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "aws-sdk-rust",
        "requestParameters": parameters,
        "responseElements": response,
        "readOnly": false,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": account,
    });
    if !ok {
        record["errorCode"] = element(&text, "Code").unwrap_or("Error").into();
        record["errorMessage"] = element(&text, "Message").unwrap_or_default().into();
    }
    (record, issued)
}

/// CloudTrail's event-history index of a record's user name: an IAM user's name, a role
/// session's name (which whoever assumes the role chooses).
fn username(record: &Value) -> &str {
    let identity = &record["userIdentity"];
    match identity["type"].as_str() {
        Some("IAMUser") => identity["userName"].as_str().unwrap_or_default(),
        _ => identity["arn"]
            .as_str()
            .and_then(|a| a.rsplit('/').next())
            .unwrap_or_default(),
    }
}

/// `LookupEvents`: the records matching the one lookup attribute, newest first, within the
/// window, 50 a page at most (`NextToken` is the offset).
fn lookup_events(records: &[Value], request: &Value) -> Value {
    let attribute = &request["LookupAttributes"][0];
    let value = attribute["AttributeValue"].as_str().unwrap_or_default();
    let time = |r: &Value| {
        chrono::DateTime::parse_from_rfc3339(r["eventTime"].as_str().unwrap_or_default())
            .map(|t| t.timestamp() as f64)
            .unwrap_or_default()
    };
    let from = request["StartTime"].as_f64().unwrap_or(f64::MIN);
    let to = request["EndTime"].as_f64().unwrap_or(f64::MAX);
    let mut matching: Vec<&Value> = records
        .iter()
        .filter(|r| match attribute["AttributeKey"].as_str() {
            Some("AccessKeyId") => r["userIdentity"]["accessKeyId"] == value,
            Some("Username") => username(r) == value,
            _ => false,
        })
        .filter(|r| (from..=to).contains(&time(r)))
        .collect();
    matching.reverse();
    let size = request["MaxResults"].as_u64().unwrap_or(50).min(50) as usize;
    let offset: usize = request["NextToken"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let page: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(size)
        .map(|r| {
            json!({
                "EventId": r["eventID"],
                "EventName": r["eventName"],
                "ReadOnly": "false",
                "AccessKeyId": r["userIdentity"]["accessKeyId"],
                "EventTime": time(r),
                "EventSource": r["eventSource"],
                "Username": username(r),
                "Resources": [],
                "CloudTrailEvent": r.to_string(),
            })
        })
        .collect();
    let mut answer = json!({ "Events": page });
    if offset + size < matching.len() {
        answer["NextToken"] = (offset + size).to_string().into();
    }
    answer
}

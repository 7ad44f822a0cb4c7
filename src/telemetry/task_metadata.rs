//! The ECS task this sidecar runs in, from the task metadata endpoint v4.
//!
//! ECS sets `ECS_CONTAINER_METADATA_URI_V4` in every container; `${uri}/task` describes the task.
//! It is read once at start: cluster, family, revision and task id go on every log line and into
//! `sessionguard_task_info`. Outside ECS the variable is unset and nothing is read; a failure to
//! read it is a WARN, never fatal.

use std::time::Duration;

use serde::Deserialize;

/// Upper bound on the metadata request: the endpoint is local to the task.
const TIMEOUT: Duration = Duration::from_secs(2);

/// The variable ECS sets in each container.
pub const ENV_METADATA_URI: &str = "ECS_CONTAINER_METADATA_URI_V4";

/// What sessionguard uses of the task metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskMetadata {
    pub cluster: String,
    pub family: String,
    pub revision: String,
    /// The last segment of the task ARN.
    pub task_id: String,
    pub availability_zone: String,
    pub launch_type: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TaskResponse {
    cluster: String,
    #[serde(rename = "TaskARN")]
    task_arn: String,
    family: String,
    revision: String,
    #[serde(default)]
    availability_zone: String,
    #[serde(default)]
    launch_type: String,
}

/// Why the metadata could not be read.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("task metadata request to {uri} failed")]
    Get {
        uri: String,
        #[source]
        source: crate::http_client::GetError,
    },
    #[error("task metadata endpoint {uri} answered {status}")]
    Status { uri: String, status: u16 },
    #[error("task metadata from {uri} is not the v4 task format: {message}")]
    Format { uri: String, message: String },
}

/// Reads the task metadata when running in ECS: `Ok(None)` outside ECS.
pub async fn load() -> Result<Option<TaskMetadata>, MetadataError> {
    let Some(base) = std::env::var(ENV_METADATA_URI)
        .ok()
        .filter(|v| !v.is_empty())
    else {
        return Ok(None);
    };
    let uri = format!("{}/task", base.trim_end_matches('/'));
    let (status, body) = crate::http_client::get(&uri, &[], TIMEOUT)
        .await
        .map_err(|source| MetadataError::Get {
            uri: uri.clone(),
            source,
        })?;
    if status != 200 {
        return Err(MetadataError::Status { uri, status });
    }
    parse(&body)
        .map(Some)
        .map_err(|message| MetadataError::Format { uri, message })
}

fn parse(body: &[u8]) -> Result<TaskMetadata, String> {
    let task: TaskResponse = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    // Cluster may be a name or an ARN; a person reads the name.
    let cluster = task
        .cluster
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let task_id = task
        .task_arn
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    Ok(TaskMetadata {
        cluster,
        family: task.family,
        revision: task.revision,
        task_id,
        availability_zone: task.availability_zone,
        launch_type: task.launch_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The v4 `/task` body as Fargate serves it.
    #[test]
    fn parses_the_v4_task_body() {
        let body = br#"{
            "Cluster": "arn:aws:ecs:us-west-2:111122223333:cluster/default",
            "TaskARN": "arn:aws:ecs:us-west-2:111122223333:task/default/e9028f8d5d8e4f258373e7b93ce9a3c3",
            "Family": "curltest", "Revision": "3", "DesiredStatus": "RUNNING", "KnownStatus": "RUNNING",
            "AvailabilityZone": "us-west-2d", "LaunchType": "FARGATE", "Containers": []
        }"#;
        let task = parse(body).unwrap();
        assert_eq!(task.cluster, "default");
        assert_eq!(task.task_id, "e9028f8d5d8e4f258373e7b93ce9a3c3");
        assert_eq!(
            (task.family.as_str(), task.revision.as_str()),
            ("curltest", "3")
        );
        assert_eq!(task.availability_zone, "us-west-2d");
        assert_eq!(task.launch_type, "FARGATE");
        assert!(
            parse(b"{\"Cluster\":\"x\"}")
                .unwrap_err()
                .contains("missing field")
        );
    }
}

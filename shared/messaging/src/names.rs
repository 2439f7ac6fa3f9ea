use dataorch_config::NatsSettings;

/// Stream, consumer and subject names derived from the configured prefixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub commands_stream: String,
    pub events_stream: String,
    /// Commands that could not be processed, kept for inspection and redrive.
    pub dead_letter_stream: String,
    /// Durable consumer shared by every worker replica.
    pub worker_consumer: String,
    pub projector_commands_consumer: String,
    pub projector_events_consumer: String,
    subject_prefix: String,
}

impl Names {
    pub fn new(settings: &NatsSettings) -> Names {
        let stream = &settings.stream_prefix;
        Names {
            commands_stream: format!("{stream}_COMMANDS"),
            events_stream: format!("{stream}_EVENTS"),
            dead_letter_stream: format!("{stream}_DEAD_LETTERS"),
            worker_consumer: format!("{stream}_worker"),
            projector_commands_consumer: format!("{stream}_projector_commands"),
            projector_events_consumer: format!("{stream}_projector_events"),
            subject_prefix: settings.subject_prefix.clone(),
        }
    }

    pub fn execute_subject(&self) -> String {
        format!("{}.commands.execute", self.subject_prefix)
    }

    pub fn continue_subject(&self) -> String {
        format!("{}.commands.continue", self.subject_prefix)
    }

    pub fn commands_filter(&self) -> String {
        format!("{}.commands.>", self.subject_prefix)
    }

    pub fn event_subject(&self, log_id: i64) -> String {
        format!("{}.events.{log_id}", self.subject_prefix)
    }

    pub fn dead_letter_subject(&self) -> String {
        format!("{}.dead.commands", self.subject_prefix)
    }

    pub fn events_filter(&self) -> String {
        format!("{}.events.>", self.subject_prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prefixes() {
        let settings = NatsSettings {
            stream_prefix: "T1".into(),
            subject_prefix: "t1".into(),
            ..NatsSettings::default()
        };
        let names = Names::new(&settings);
        assert_eq!(names.commands_stream, "T1_COMMANDS");
        assert_eq!(names.event_subject(42), "t1.events.42");
        assert_eq!(names.execute_subject(), "t1.commands.execute");
    }
}

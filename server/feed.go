package server

// feedTypes are the types a change feed (system or type _history) may
// show: those the server serves, AuditEvent included, and never internal
// records such as asynchronous jobs (issue 11: a job carries the submitted
// body and its submitter, and has no resourceType, which broke XML).
func feedTypes() []string {
	return append(servedTypes(), auditType)
}

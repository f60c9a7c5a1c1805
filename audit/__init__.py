"""The audit log: who changed what, when, under which request id. No HTTP here."""

from audit.log import AuditEvent, AuditLog, parse_since

__all__ = ["AuditEvent", "AuditLog", "parse_since"]

"""Per Exchange report of the old tool: what Microsoft Graph v1.0 provides for it, and what it needs besides.

Nothing here is invented: a column Graph v1.0 does not serve is named as needing another source, and the source is
named (an Exchange Online PowerShell cmdlet, or Defender advanced hunting with its licence), never guessed from
other figures. The old tool printed placeholder numbers for several of these (legacy_csv_formats.md).
"""

from __future__ import annotations

from dataclasses import dataclass

EXO = (
    "Exchange Online PowerShell (ExchangeOnlineManagement module, app-only: Exchange.ManageAsApp and an Exchange role)"
)
HUNTING = (
    "Microsoft Graph v1.0 POST /security/runHuntingQuery on the EmailEvents table (ThreatHunting.Read.All; "
    "needs Microsoft Defender for Office 365 Plan 2 or Microsoft Defender XDR)"
)


@dataclass(frozen=True)
class ExchangeReportSource:
    name: str  # the catalog's key
    legacy_report: str  # where the old tool wrote it
    graph_v1: tuple[str, ...]  # what Graph v1.0 serves for it (empty: nothing)
    covered_by: tuple[str, ...]  # this project's assets that hold that part
    needs: str | None  # the source the rest needs; None: Graph v1.0 covers the report
    missing: str  # what Graph v1.0 does not give

    @property
    def covered(self) -> str:
        if self.needs is None:
            return "graph_v1"
        return "partly" if self.graph_v1 else "not_in_graph_v1"


EXCHANGE_REPORTS: tuple[ExchangeReportSource, ...] = (
    ExchangeReportSource(
        "mailbox_monitoring",
        "Reports/Exchange/Mailbox/Exchangeメールボックス監視_TS.csv; Reports/Daily/Mailbox_Quota_Monitoring_TS.csv",
        ("reports/getMailboxUsageDetail: size, item count, warning/send/receive quotas, archive, last activity",),
        ("warehouse/usage_mailbox_usage",),
        f"{EXO}: Get-EXOMailbox / Get-EXOMailboxStatistics for mailbox type, database, litigation hold and the "
        "last logon time",
        "mailbox type, database, litigation hold, last logon time (Graph gives the last activity date instead)",
    ),
    ExchangeReportSource(
        "mail_flow",
        "Reports/Exchange/MailFlow/ExchangeMailFlow_TS.csv",
        ("reports/getEmailActivityCounts and getEmailActivityUserDetail: messages sent, received and read per day",),
        ("warehouse/usage_email_activity",),
        f"{EXO}: Get-MailTrafficSummaryReport and Get-MessageTraceV2 for direction (internal/external), size, "
        "delivery time and status",
        "direction, message size, delivery time, error rate, spam and malware counts per flow",
    ),
    ExchangeReportSource(
        "delivery",
        "Reports/Exchange/Delivery/ExchangeDeliveryReport_TS.csv; Reports/Daily/Mail_Delivery_Monitoring_TS.csv",
        (),
        (),
        f"{EXO}: Get-MessageTraceV2 and Get-MessageTraceDetailV2 (message trace; 10 days online)",
        "every column: delivery status, delay, bounces, retries, message events (message trace is not in Graph v1.0)",
    ),
    ExchangeReportSource(
        "anti_spam",
        "Reports/Exchange/AntiSpam/ExchangeAntiSpam_TS.csv; Reports/Weekly/Daily_Threat_Stats_TS.csv; "
        "Reports/Weekly/Spam_Phishing_Analysis_TS.csv; Reports/Weekly/Suspicious_Senders_TS.csv",
        (),
        (),
        f"{HUNTING}; or {EXO}: Get-MailDetailATPReport / Get-MailTrafficATPReport / Get-QuarantineMessage",
        "every column: detections by type, sender domains, actions taken, false positives",
    ),
    ExchangeReportSource(
        "forwarding_and_auto_reply",
        "Reports/Exchange forwarding and auto-reply analysis (DisplayName, HasForwarding, AutoReplyState, ...)",
        (
            "users/{id}/mailboxSettings: automaticRepliesSetting (state, internal/external message, schedule)",
            "users/{id}/mailFolders/inbox/messageRules: rules that forward or redirect",
        ),
        (),
        f"{EXO}: Get-EXOMailbox for ForwardingSmtpAddress, ForwardingAddress and DeliverToMailboxAndForward",
        "mailbox-level forwarding (set by an administrator, not an inbox rule)",
    ),
    ExchangeReportSource(
        "room_utilization",
        "Reports/Weekly/Room_Utilization_Audit_TS.csv",
        (
            "places/microsoft.graph.room: rooms, capacity, e-mail address",
            "users/{room}/calendarView: bookings in a period",
        ),
        (),
        f"{EXO}: Get-CalendarProcessing for the booking policy (max booking days, max duration, recurring)",
        "booking policy",
    ),
    ExchangeReportSource(
        "exchange_license_validity",
        "Reports/Monthly/Exchange_License_Validity_TS.csv",
        (
            "users with assignedLicenses and subscribedSkus: who holds an Exchange plan",
            "reports/getMailboxUsageDetail: mailbox present, quota, archive",
        ),
        ("warehouse/users", "warehouse/user_licenses", "warehouse/usage_mailbox_usage"),
        f"{EXO}: Get-EXOMailbox for litigation hold and the mailbox type",
        "litigation hold, mailbox type; costs (JPY) are not a Graph figure: they need the organization's price list",
    ),
)

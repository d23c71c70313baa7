"""Per Exchange report of the old tool: what Microsoft Graph v1.0 provides for it, and what it needs besides.

Nothing here is invented: a column Graph v1.0 does not serve is named as needing another source, and the source is
named (an Exchange Online PowerShell cmdlet, or Defender advanced hunting with its licence), never guessed from
other figures. The old tool printed placeholder numbers for several of these (legacy_csv_formats.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from m365_pipeline.entities.pii import PiiClass

EXO = (
    "Exchange Online PowerShell (ExchangeOnlineManagement module, app-only: Exchange.ManageAsApp and an Exchange role)"
)
HUNTING = (
    "Microsoft Graph v1.0 POST /security/runHuntingQuery on the EmailEvents table (ThreatHunting.Read.All; "
    "needs Microsoft Defender for Office 365 Plan 2 or Microsoft Defender XDR)"
)


@dataclass(frozen=True)
class LegacyColumn:
    """A column of the old tool's report and where its value comes from now."""

    name: str
    source: str  # "Graph v1.0: ...", "derived: ...", or "needs ...": never a placeholder
    pii: PiiClass = PiiClass.NONE


def _graph(name: str, where: str, pii: PiiClass = PiiClass.NONE) -> LegacyColumn:
    return LegacyColumn(name, f"Graph v1.0: {where}", pii)


def _derived(name: str, how: str) -> LegacyColumn:
    return LegacyColumn(name, f"derived: {how}")


def _needs(name: str, source: str, pii: PiiClass = PiiClass.NONE) -> LegacyColumn:
    return LegacyColumn(name, f"needs {source}", pii)


_TRACE = "message trace (Exchange Online PowerShell Get-MessageTraceV2 / Get-MessageTraceDetailV2)"
_THREATS = "Defender advanced hunting (EmailEvents) or Exchange Online PowerShell Get-MailDetailATPReport"
_MAILBOX = "Exchange Online PowerShell Get-EXOMailbox"
_STATISTICS = "Exchange Online PowerShell Get-EXOMailboxStatistics"
_DIRECT = PiiClass.DIRECT


@dataclass(frozen=True)
class ExchangeReportSource:
    name: str  # the catalog's key
    legacy_report: str  # where the old tool wrote it
    graph_v1: tuple[str, ...]  # what Graph v1.0 serves for it (empty: nothing)
    covered_by: tuple[str, ...]  # this project's assets that hold that part
    needs: str | None  # the source the rest needs; None: Graph v1.0 covers the report
    missing: str  # what Graph v1.0 does not give
    columns: tuple[LegacyColumn, ...]

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
        (
            _graph("ユーザー名", "usage_mailbox_usage.display_name (a hash while names are concealed)", _DIRECT),
            _graph("メールボックスサイズ", "usage_mailbox_usage.storage_used_bytes"),
            _derived("使用率", "storage_used_bytes / prohibit_send_receive_quota_bytes"),
            _needs("最終ログイン", f"{_STATISTICS} LastLogonTime (Graph gives last_activity_date)"),
            _derived("状態", "storage used against the issue-warning and prohibit-send quotas"),
            _derived("警告", "storage used against the issue-warning quota"),
        ),
    ),
    ExchangeReportSource(
        "mail_flow",
        "Reports/Exchange/MailFlow/ExchangeMailFlow_TS.csv",
        ("reports/getEmailActivityCounts and getEmailActivityUserDetail: messages sent, received and read per day",),
        ("warehouse/usage_email_activity",),
        f"{EXO}: Get-MailTrafficSummaryReport and Get-MessageTraceV2 for direction (internal/external), size, "
        "delivery time and status",
        "direction, message size, delivery time, error rate, spam and malware counts per flow",
        (
            _graph("期間", "the usage report's period (D7, D30, D90, D180)"),
            _needs("送信元", f"{_TRACE} or Get-MailTrafficSummaryReport (direction)"),
            _needs("宛先", f"{_TRACE} or Get-MailTrafficSummaryReport (direction)"),
            _graph("メール数", "usage_email_activity send_count and receive_count (all directions together)"),
            _needs("サイズ", _TRACE),
            _needs("状態", _TRACE),
            _needs("平均配信時間", _TRACE),
            _needs("エラー率", _TRACE),
            _needs("スパム検知", _THREATS),
            _needs("マルウェア検知", _THREATS),
        ),
    ),
    ExchangeReportSource(
        "delivery",
        "Reports/Exchange/Delivery/ExchangeDeliveryReport_TS.csv; Reports/Daily/Mail_Delivery_Monitoring_TS.csv",
        (),
        (),
        f"{EXO}: Get-MessageTraceV2 and Get-MessageTraceDetailV2 (message trace; 10 days online)",
        "every column: delivery status, delay, bounces, retries, message events (message trace is not in Graph v1.0)",
        tuple(
            _needs(name, _TRACE)
            for name in (
                "期間",
                "配信状態",
                "メール数",
                "配信率",
                "平均配信時間",
                "遅延配信",
                "配信失敗",
                "バウンス",
                "再試行回数",
                "最終更新",
            )
        ),
    ),
    ExchangeReportSource(
        "anti_spam",
        "Reports/Exchange/AntiSpam/ExchangeAntiSpam_TS.csv; Reports/Weekly/Daily_Threat_Stats_TS.csv; "
        "Reports/Weekly/Spam_Phishing_Analysis_TS.csv; Reports/Weekly/Suspicious_Senders_TS.csv",
        (),
        (),
        f"{HUNTING}; or {EXO}: Get-MailDetailATPReport / Get-MailTrafficATPReport / Get-QuarantineMessage",
        "every column: detections by type, sender domains, actions taken, false positives",
        (
            *(_needs(name, _THREATS) for name in ("日付", "検出タイプ", "検出数", "ブロック率")),
            _needs("誤判定数", "Exchange Online PowerShell Get-QuarantineMessage (released) and user submissions"),
            _needs("送信者ドメイン", _THREATS, PiiClass.QUASI),
            *(_needs(name, _THREATS) for name in ("対処アクション", "IP評価", "影響ユーザー", "対応状況")),
        ),
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
        (
            _graph("DisplayName", "users.displayName", _DIRECT),
            _graph("UserPrincipalName", "users.userPrincipalName", _DIRECT),
            _graph("PrimarySmtpAddress", "users.mail", _DIRECT),
            _needs("ForwardingSmtpAddress", _MAILBOX, _DIRECT),
            _needs("ForwardingAddress", _MAILBOX, _DIRECT),
            _needs("DeliverToMailboxAndForward", _MAILBOX),
            _graph("AutoReplyState", "users/{id}/mailboxSettings automaticRepliesSetting.status"),
            _graph("InternalMessage", "automaticRepliesSetting.internalReplyMessage", _DIRECT),
            _graph("ExternalMessage", "automaticRepliesSetting.externalReplyMessage", _DIRECT),
            _graph("ForwardingRuleNames", "users/{id}/mailFolders/inbox/messageRules with forwardTo or redirectTo"),
            _needs("LastLogonTime", _STATISTICS),
            _needs("WhenChanged", _MAILBOX),
        ),
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
        (
            _graph("RoomName", "places/microsoft.graph.room displayName"),
            _graph("EmailAddress", "places/microsoft.graph.room emailAddress"),
            _graph("ResourceCapacity", "places/microsoft.graph.room capacity"),
            _graph("EstimatedBookings", "users/{room}/calendarView events in the period (counted, not estimated)"),
            _derived("UtilizationRate", "booked hours / working hours of the period"),
            _needs("BookingPolicy", "Exchange Online PowerShell Get-CalendarProcessing"),
            _needs("MaxBookingDays", "Exchange Online PowerShell Get-CalendarProcessing BookingWindowInDays"),
            _needs("MaxDurationMinutes", "Exchange Online PowerShell Get-CalendarProcessing MaximumDurationInMinutes"),
            _needs("AllowRecurring", "Exchange Online PowerShell Get-CalendarProcessing AllowRecurringMeetings"),
        ),
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
        (
            _graph("UserName", "users.displayName", _DIRECT),
            _graph("UserPrincipalName", "users.userPrincipalName", _DIRECT),
            _graph("AccountEnabled", "users.accountEnabled"),
            _graph("LastSignIn", "users.signInActivity (Entra ID P1/P2)", PiiClass.QUASI),
            _graph("ExchangeLicenses", "user_licenses and skus: plans named EXCHANGE_*"),
            _graph("HasMailbox", "usage_mailbox_usage: a row for the user"),
            _graph("MailboxQuota", "usage_mailbox_usage.prohibit_send_receive_quota_bytes"),
            _graph("HasArchive", "usage_mailbox_usage.has_archive"),
            _needs("MailboxType", _MAILBOX),
            _needs("HasLitigation", f"{_MAILBOX} LitigationHoldEnabled"),
            _needs("MonthlyCostJPY", "the organization's price list (not a Graph figure)"),
        ),
    ),
)

# ruff: noqa: E501  (the catalogue's header lines are kept whole, as the catalogue writes them)
"""The catalogue of the old tool's CSV layouts (../shared/reference/legacy_csv_formats.md) as data, and recognition.

A report type is one kind of report (the user list, the sign-in log...) with its typed columns; its variants are
the header sets the catalogue shows for it (generations differ by missing or extra columns; PowerShell hashtables
put them in any order; some reports were written with Japanese headers and later with English ones, or the other
way round: aliases map both to one column). Several of the old tool's file names wrote the same layout (the
service status of DailyReport, PopupTest and the nameless `_TS.csv`), so they are one report type.

Recognition is by header NAMES only (compared after Unicode NFKC normalization, surrounding spaces and case
ignored), never by position or file name:
1. the file's header set equals a catalogued variant's: that variant (and its generation);
2. otherwise, a report type whose columns present in every catalogued variant are all in the file, and whose
   known columns include every header of the file, is the layout if it is the only such type (generation: that of
   the closest variant; the missing and extra columns are reported);
3. otherwise the file is of an unknown layout: the reason names the headers seen and the closest known layouts.
Nothing is guessed: a header that no variant of the type knows makes the file unknown.

Generations (the catalogue's folder conventions and the dates of its examples): 1 = `Reports/{Daily,Weekly,
Monthly,Yearly}` English layouts of June 2025; 2 = the service folders with Japanese layouts (2025-06-16 to
2025-07-08); 3 = `Regularreports`, `EntraIDManagement`, `General`, `Templates/Samples` (from 2025-07-15).
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache

from m365_pipeline.legacy.values import Kind


@dataclass(frozen=True, slots=True)
class Column:
    name: str  # the key of the typed value: snake_case of the English header, or the Japanese header itself
    kind: Kind
    headers: tuple[str, ...]  # every header name that means this column
    unit: str | None = None  # the unit of a bare number (durations, sizes)


@dataclass(frozen=True, slots=True)
class Variant:
    generation: int
    headers: tuple[str, ...]  # as the catalogue lists them
    example: str  # the catalogue's example file


@dataclass(frozen=True, slots=True)
class ReportType:
    name: str
    title: str
    columns: tuple[Column, ...]
    variants: tuple[Variant, ...]
    timestamp_column: str | None = None  # the column holding the report's own time, when the content has one
    directory_history: str | None = None  # 'users', 'licenses', 'groups': lands in the directory tables' history

    def column_for(self, header: str) -> Column | None:
        return _header_index(self.name).get(normalize_header(header))


@dataclass(frozen=True, slots=True)
class Layout:
    """A recognized file layout: its report type, generation and how the file's headers map to columns."""

    report_type: ReportType
    generation: int
    variant: Variant | None  # the exact catalogued variant, None for a tolerated generation difference
    missing: tuple[str, ...]  # known columns of the type absent from the file
    columns: tuple[Column, ...]  # one per header of the file, in the file's order (a repeated header repeats)


@dataclass(frozen=True, slots=True)
class UnknownLayout:
    reason: str
    headers: tuple[str, ...]
    closest: tuple[str, ...]  # 'report_type (generation N): +extra -missing', best first


_SNAKE_1 = re.compile(r"(.)([A-Z][a-z]+)")
_SNAKE_2 = re.compile(r"([a-z0-9])([A-Z])")


def normalize_header(header: str) -> str:
    return unicodedata.normalize("NFKC", header).strip().casefold()


def column_name(header: str) -> str:
    """`UserPrincipalName` -> `user_principal_name`, `MFAMethods` -> `mfa_methods`; Japanese headers as they are."""
    if not header.isascii():
        return header
    name = _SNAKE_2.sub(r"\1_\2", _SNAKE_1.sub(r"\1_\2", header.replace(".", "")))
    return re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()


# --- the kinds of columns, by header name (a report type may override) -----------------------------------------

_K = Kind
_KINDS_BY_HEADER: dict[str, Kind] = {}
_UNITS_BY_HEADER: dict[str, str] = {}


def _kinds(kind: Kind, headers: str) -> None:
    for header in headers.split():
        _KINDS_BY_HEADER[header] = kind


_kinds(
    _K.DATETIME,
    """ReportDate LastSyncDateTime Received WhenCreated WhenChanged AnalysisTimestamp CreatedDate ExpirationDate
    LastRenewed MemberCreatedDate LastSignIn ReceivedTime LastLogonTime LastPasswordChange PasswordExpiryDate
    CreationDate AutoReplyStartTime AutoReplyEndTime LastSignInDateTime CreatedDateTime LastModified LastActivity
    LastExternalShareDate Timestamp FirstSeen LastSeen LastCheck
    作成日 最終使用 最終更新 最終MFA使用 最終サインイン 日時 認証時刻 ログイン日時 アカウント作成日 最終パスワード変更
    作成日時 最終ログイン 共有日時 最終アクセス 最終同期 発生日時 最終チェック 最終確認 最終実行日時 生成日時 分析日時
    レポート日 最終アクティビティ""",
)
_kinds(_K.DATE, "Date 日付 有効期限 最終更新日 次回更新日")
_kinds(_K.YEAR_MONTH, "Month")
_kinds(
    _K.BOOLEAN,
    """SyncEnabled HasLargeAttachment HasValidOwner RequireSenderAuthentication HasSendingRestrictions HasRejectionList
    IsRestrictedGroup HasIssues IsDynamicGroup IsDynamicLikely HasForwarding DeliverToMailboxAndForward HasAutoReply
    IsExternalForwarding IsTeam SecurityEnabled MailEnabled HasMail HasAssignedLicenses HasLicenseErrors HasExpiration
    IsOwner AccountEnabled HasLicense HasMFA IsDelayed IsInternalSender IsInternalRecipient IsInternalMail
    MailboxEnabled ArchiveEnabled LitigationHoldEnabled PasswordNeverExpires RecentlyCreated HasExchangeLicense
    HasMailbox HasArchive HasLitigation HasOneDriveLicense Archived HasExternalSharing AllowRecurring IsActive
    ActualData AccountStatus MFA実行 アーカイブ有効 訴訟ホールド 自動更新 コスト最適化可能""",
)
_kinds(
    _K.INTEGER,
    """OnPremisesUserCount CloudOnlyUserCount TotalUserCount AttachmentCount TotalMembers ValidMembers InvalidMembers
    DisabledMembers ExternalMembers NestedGroups TotalOwners ValidOwners MemberCount InboxRulesCount
    ForwardingRulesCount OwnerCount AdminRoleCount GlobalAdminCount GroupAdminCount ProxyAddressCount LicenseCount
    ItemCount DaysUntilExpiry GroupCount ActiveUsers TotalUsers DailyActiveUsers WeeklyActiveUsers MonthlyActiveUsers
    UsageCount UniqueUsers TotalLicenses ConsumedLicenses AvailableLicenses LongTermInactiveUsers UnusedCount
    DaysSinceLastSignIn GuestCount ChannelCount ExternalShareCount ExternalUserCount PublicLinkCount
    AnonymousLinkCount SensitiveFileShareCount ResourceCapacity EstimatedBookings MaxBookingDays MaxDurationMinutes
    SpamCount PhishingCount MalwareCount TotalThreats ThreatCount TargetedUsers DailyLogins DailyEmails TeamsActivity
    ActiveUsersCount TotalActivityCount NewUsersCount ErrorCount MonthsUntilOverage No No.
    総ライセンス数 割当済ライセンス 利用可能ライセンス 購入数 使用数 残り 適用回数 検出数 誤判定数 影響ユーザー メール数
    遅延配信 配信失敗 バウンス 再試行回数 スパム検知 マルウェア検知 アクセス数 ファイル数 グループ数 ライセンス数
    アクティブユーザー数 総アクティビティ数 新規ユーザー数 エラー数 パスワード未変更日数 割当済み 利用可能 アイテム数
    送信メール数_日 受信メール数_日 スパムメール数_日 チーム参加数 プライベートチャネル数 チャットメッセージ数_週
    会議参加数_週 会議主催数_週 画面共有回数_週 ファイル共有数_週 ログイン回数 メール送信数 メール受信数""",
)
_kinds(
    _K.DECIMAL,
    """SizeMB CurrentSizeMB QuotaLimitMB WarningQuotaMB TotalSizeGB UsedSpaceGB RemainingSpaceGB CurrentUsageGB
    CurrentUsageTB PredictedYearlyUsageGB PredictedYearlyUsageTB ThroughputMbps ActivityScore PerformanceScore
    RiskScore DeliveryDelayMinutes Value メールボックスサイズGB クォータGB OneDrive使用量GB 通話時間_分_週 数値データ
    パフォーマンススコア""",
)
_kinds(
    _K.PERCENT,
    """SyncPercentage UsagePercentage UsagePercent UtilizationRate AdoptionRate Availability ErrorRate
    BudgetUtilization GrowthRate 利用率 成功率 ブロック率 配信率 エラー率 使用率 ライセンス使用率 達成率""",
)
_kinds(
    _K.YEN,
    """TotalLicenseValue MonthlyCostJPY EstimatedCostPerUser TotalEstimatedCost WastedCost WastedCostPerMonth
    PotentialSavingsPerYear TotalMonthlyCost MonthlyCost CurrentMonthlyCost PredictedYearlyCost BudgetLimit
    RemainingBudget 月額コスト 月額コスト（円）""",
)
_kinds(
    _K.BYTES,
    "Size TotalSize TotalItemSize MailboxQuota サイズ ファイルサイズ 使用容量 メールボックスサイズ",
)
_kinds(_K.DURATION, "ResponseTime 平均配信時間 実行時間")
_UNITS_BY_HEADER.update({"ResponseTime": "ms"})
_kinds(
    _K.STATUS,
    """Status ServiceStatus DriveStatus 状態 ステータス サービス状況 アクティブステータス アクティビティ状態 セキュリティ状態
    解決状況 対応状況 承認状況 実行状況 アカウント状態 評価""",
)
_kinds(
    _K.LIST,
    """MFAMethods RiskReasons RiskFactors ThreatTypes ExternalDomains ForwardingRuleNames ExternalAddresses
    GroupMemberships Issues Inconsistencies AssignedLicenses ExchangeLicenses LicenseDetails LicenseInfo 権限""",
)


# --- the catalogue -----------------------------------------------------------------------------------------------

# (report type, title, [(generation, header line as catalogued, example)], options)
_SERVICE_STATUS_JA = {
    "サービス名": "ServiceName",
    "アクティブユーザー数": "ActiveUsersCount",
    "総アクティビティ数": "TotalActivityCount",
    "新規ユーザー数": "NewUsersCount",
    "エラー数": "ErrorCount",
    "サービス状況": "ServiceStatus",
    "パフォーマンススコア": "PerformanceScore",
    "最終チェック": "LastCheck",
    "ステータス": "Status",
}
_USER_DAILY_JA = {
    "ユーザー名": "UserName",
    "ユーザープリンシパル名": "UserPrincipalName",
    "部署": "Department",
    "役職": "JobTitle",
    "最終サインイン": "LastSignIn",
    "日次ログイン": "DailyLogins",
    "日次メール": "DailyEmails",
    "Teamsアクティビティ": "TeamsActivity",
    "Teams活動": "TeamsActivity",
    "アクティビティレベル": "ActivityLevel",
    "活動レベル": "ActivityLevel",
    "アクティビティスコア": "ActivityScore",
    "活動スコア": "ActivityScore",
    "ステータス": "Status",
    "レポート日": "ReportDate",
}
_TEXT = Kind.TEXT

_CATALOGUE: list[tuple[str, str, list[tuple[int, str, str]], dict[str, object]]] = [
    # --- Analysis/ (generation 2) ---
    ("license_analysis_detail", "ライセンス分析レポート", [
        (2, '"ライセンス種別","ユーザー名","部署","総ライセンス数","割当済ライセンス","利用可能ライセンス","利用率","月額コスト","有効期限"', "Analysis/License/ライセンス分析レポート_20250708_140624.csv"),
    ], {}),
    ("performance_monitoring", "パフォーマンス監視レポート", [
        (2, '"Timestamp","Service","ResponseTime","Availability","ThroughputMbps","ErrorRate","Status"', "Analysis/Performance/パフォーマンス監視レポート_20250708_140711.csv"),
    ], {}),
    ("usage_analysis", "使用状況分析レポート", [
        (2, '"Service","ActiveUsers","TotalUsers","AdoptionRate","DailyActiveUsers","WeeklyActiveUsers","MonthlyActiveUsers","TrendDirection"', "Analysis/Usage/使用状況分析レポート_20250708_140647.csv"),
    ], {}),
    # --- Entra ID (generation 2) ---
    ("entra_app_registrations", "EntraIdAppRegistrations", [
        (2, '"アプリ名","アプリID","所有者","作成日","最終使用","状態","権限","セキュリティ状態","リスクレベル","推奨アクション"', "Apps/Reports/EntraID/AppRegistrations/EntraIdAppRegistrations_20250624_115133.csv"),
    ], {}),
    ("entra_conditional_access", "EntraIdConditionalAccess", [
        (2, '"ポリシー名","状態","対象ユーザー","対象アプリ","条件","制御","適用回数","成功率","最終更新","推奨アクション"', "Apps/Reports/EntraID/ConditionalAccess/EntraIdConditionalAccess_20250624_115119.csv"),
    ], {"kinds": {"状態": _TEXT}}),
    ("entra_mfa", "EntraIdMFA", [
        (2, '"ユーザー","MFA状態","登録方法","最終MFA使用","コンプライアンス","リスクレベル","部署","最終サインイン","推奨アクション"', "Apps/Reports/EntraID/MFA/EntraIdMFA_20250624_115126.csv"),
    ], {}),
    ("entra_sign_in_logs", "EntraIdSignInLogs", [
        (2, '"日時","ユーザー","アプリケーション","IPアドレス","場所","デバイス","結果","MFA実行","リスクレベル","条件付きアクセス"', "Apps/Reports/EntraID/SignInLogs/EntraIdSignInLogs_20250624_115108.csv"),
    ], {}),
    ("entra_user_monitoring", "EntraIDユーザー監視", [
        (2, '"ユーザー名","表示名","部署","MFA状態","最終ログイン","アカウント状態","リスク"', "Reports/EntraID/Users/EntraIDユーザー監視_20250624_115100.csv"),
    ], {}),
    ("license_analysis", "ライセンス分析", [
        (2, '"ライセンス種類","購入数","使用数","利用率","残り","状態"', "Reports/Analysis/License/ライセンス分析_20250624_114541.csv"),
    ], {}),
    # --- Authentication (generation 2) ---
    ("authentication_test", "認証テスト結果", [
        (2, '"ユーザー名","認証方法","認証結果","認証時刻","IPアドレス","場所"', "Reports/Authentication/認証テスト結果_20250616_173114.csv"),
    ], {}),
    ("authentication_sign_ins", "認証テスト結果 (sign-ins)", [
        (2, '"ログイン日時","ユーザー","アプリケーション","認証状態","IPアドレス","クライアント","場所","リスク詳細","デバイス OS","ブラウザ"', "Reports/Authentication/認証テスト結果_20250624_143109.csv"),
    ], {}),
    ("authentication_connection_status", "認証接続状況", [
        (2, '"項目","状態","詳細"', "Reports/Authentication/認証接続状況_20250624_140349.csv"),
        (2, '"項目","状態","詳細","追加情報"', "Reports/Authentication/認証接続状況_20250624_143109.csv"),
    ], {}),
    # --- Reports/Daily (generation 1 unless dated later) ---
    ("ad_sync_status", "AD_Sync_Status", [
        (1, '"ReportDate","OrganizationName","TenantId","SyncEnabled","LastSyncDateTime","OnPremisesUserCount","CloudOnlyUserCount","TotalUserCount","SyncPercentage"', "Reports/Daily/AD_Sync_Status_20250614_000804.csv"),
    ], {"timestamp": "ReportDate"}),
    ("attachment_analysis", "Attachment_Analysis", [
        (1, '"SenderAddress","RecipientAddress","Subject","Received","Status","Size","SizeMB","AttachmentCount","MessageId","HasLargeAttachment","RiskLevel","EventType","Detail"', "Reports/Daily/Attachment_Analysis_20250612_093610.csv"),
    ], {"kinds": {"Status": _TEXT}}),
    ("distribution_group_integrity", "Distribution_Group_Integrity", [
        (1, '"GroupName","DisplayName","PrimarySmtpAddress","Identity","TotalMembers","ValidMembers","InvalidMembers","DisabledMembers","ExternalMembers","NestedGroups","TotalOwners","ValidOwners","HasValidOwner","RequireSenderAuthentication","HasSendingRestrictions","HasRejectionList","IsRestrictedGroup","IssueLevel","Issues","HasIssues","WhenCreated","WhenChanged","AnalysisTimestamp"', "Reports/Daily/Distribution_Group_Integrity_20250612_181124.csv"),
    ], {"timestamp": "AnalysisTimestamp", "history": "groups"}),
    ("dynamic_group_configuration", "Dynamic_Group_Configuration", [
        (1, '"DisplayName","IsDynamicGroup","IsDynamicLikely","MembershipRule","ProcessingState","MemberCount","GroupType","Visibility","SyncStatus","Description","CreatedDate","RiskLevel","RiskReasons","AnalysisNotes","GroupId","LicenseEnvironment"', "Reports/Daily/Dynamic_Group_Configuration_20250611_195556.csv"),
        (1, '"DisplayName","IsDynamicGroup","MembershipRule","ProcessingState","MemberCount","GroupType","Visibility","SyncStatus","Description","CreatedDate","RiskLevel","RiskReasons","AnalysisNotes","GroupId","LicenseEnvironment"', "Reports/Daily/Dynamic_Group_Configuration_20250611_201138.csv"),
    ], {"history": "groups"}),
    ("forwarding_auto_reply_settings", "Forwarding_AutoReply_Settings", [
        (1, '"DisplayName","UserPrincipalName","PrimarySmtpAddress","HasForwarding","ForwardingSmtpAddress","ForwardingAddress","DeliverToMailboxAndForward","HasAutoReply","AutoReplyState","InternalMessage","ExternalMessage","AutoReplyStartTime","AutoReplyEndTime","InboxRulesCount","ForwardingRulesCount","ForwardingRuleNames","IsExternalForwarding","ExternalAddresses","RiskLevel","LastLogonTime","WhenCreated","WhenChanged","AnalysisTimestamp"', "Reports/Daily/Forwarding_AutoReply_Settings_20250612_115654.csv"),
    ], {"timestamp": "AnalysisTimestamp"}),
    ("group_attributes_roles", "Group_Attributes_Roles", [
        (1, '"DisplayName","GroupType","SecurityType","IsTeam","SecurityEnabled","MailEnabled","MemberCount","OwnerCount","AdminRoleCount","GlobalAdminCount","GroupAdminCount","Visibility","SyncStatus","HasMail","MailAddress","MailNickname","ProxyAddressCount","HasAssignedLicenses","LicenseCount","HasLicenseErrors","Classification","HasExpiration","ExpirationDate","LastRenewed","Description","CreatedDate","RiskLevel","RiskReasons","GroupId"', "Reports/Daily/Group_Attributes_Roles_20250612_083513.csv"),
    ], {"history": "groups"}),
    ("group_configuration", "Group_Configuration", [
        (1, '"DisplayName","GroupType","IsTeam","SecurityEnabled","MailEnabled","MemberCount","OwnerCount","Visibility","SyncStatus","Description","CreatedDate","RiskLevel","RiskReasons","GroupId"', "Reports/Daily/Group_Configuration_20250611_193429.csv"),
    ], {"history": "groups"}),
    ("group_member_audit", "Group_Member_Audit", [
        (1, '"GroupName","GroupType","MemberName","MemberPrincipalName","MemberType","IsOwner","AccountEnabled","MemberCreatedDate","RiskLevel","RiskReasons","GroupId","MemberId"', "Reports/Daily/Group_Member_Audit_20250611_193944.csv"),
    ], {"history": "groups"}),
    ("user_license_analysis", "License_Analysis", [
        (1, '"DisplayName","UserPrincipalName","AccountEnabled","HasLicense","LicenseCount","LicenseInfo","UsageLocation","CreatedDate","RiskLevel","UserId"', "Reports/Daily/License_Analysis_20250611_183837.csv"),
    ], {"history": "licenses"}),
    ("m365_license_status", "M365_License_Status", [
        (1, '"DisplayName","UserPrincipalName","AccountEnabled","UserType","LicenseStatus","LicenseCount","Microsoft365License","ExchangeOnline","SharePointOnline","TeamsLicense","OfficeApps","TotalLicenseValue","UsageLocation","CreatedDate","RiskLevel","Recommendations","LicenseDetails","UserId"', "Reports/Daily/M365_License_Status_20250611_192540.csv"),
    ], {"history": "licenses"}),
    ("mfa_analysis", "MFA_Analysis", [
        (1, '"DisplayName","UserPrincipalName","AccountEnabled","HasMFA","MFAMethods","HasLicense","LicenseInfo","LastSignIn","CreatedDate","RiskLevel","UserId"', "Reports/Daily/MFA_Analysis_20250611_180440.csv"),
    ], {}),
    ("mail_delivery_monitoring", "Mail_Delivery_Monitoring", [
        (1, '"MessageId","MessageTraceId","Subject","SenderAddress","RecipientAddress","ReceivedTime","Status","DeliveryStatus","Size","SizeMB","DeliveryDelayMinutes","IsDelayed","DelayThreshold","RiskLevel","IsInternalSender","IsInternalRecipient","IsInternalMail","FromIP","ToIP","MessageEvents","AnalysisTimestamp"', "Reports/Daily/Mail_Delivery_Monitoring_20250612_142641.csv"),
    ], {"timestamp": "AnalysisTimestamp", "kinds": {"Status": _TEXT}}),
    ("mailbox_quota_monitoring", "Mailbox_Quota_Monitoring", [
        (1, '"DisplayName","UserPrincipalName","MailboxType","CurrentSizeMB","QuotaLimitMB","WarningQuotaMB","UsagePercentage","Status","RiskLevel","ItemCount","LastLogonTime","MailboxEnabled","Database","ArchiveEnabled","LitigationHoldEnabled","CreatedDate","MailboxId"', "Reports/Daily/Mailbox_Quota_Monitoring_20250612_084827.csv"),
    ], {}),
    ("password_expiry_analysis", "PasswordExpiry_Analysis", [
        (1, '"DisplayName","UserPrincipalName","AccountEnabled","LastPasswordChange","PasswordExpiryDate","DaysUntilExpiry","Status","PasswordNeverExpires","HasLicense","LicenseInfo","CreatedDate","UserId"', "Reports/Daily/PasswordExpiry_Analysis_20250611_182901.csv"),
    ], {}),
    ("test_report_mailbox", "TestReport_{Daily,Weekly,Monthly,Yearly}", [
        (1, '"MailboxName","Status","TotalSize","UsagePercent","ItemCount","EmailAddress"', "Reports/Daily/TestReport_Daily_20250611_155222.csv"),
    ], {}),
    ("user_attribute_changes", "UserAttribute_Changes", [
        (1, '"DisplayName","UserPrincipalName","AccountEnabled","CreatedDate","RecentlyCreated","Department","JobTitle","CompanyName","OfficeLocation","UsageLocation","LicenseInfo","GroupCount","GroupMemberships","Inconsistencies","RiskLevel","RiskReasons","LastSignIn","AnalysisMethod","UserId"', "Reports/Daily/UserAttribute_Changes_20250611_184745.csv"),
    ], {}),
    ("user_security_daily", "実データ日次レポート / 日次レポート (users)", [
        (3, '"ユーザー名","メールアドレス","アカウント作成日","最終パスワード変更","パスワード未変更日数","アクティビティ状態","セキュリティリスク","推奨アクション"', "Reports/Daily/実データ日次レポート_20250716_130445.csv"),
    ], {}),
    ("daily_summary", "日次レポート", [
        (2, '"項目","値","前日比","状態"', "Reports/Daily/日次レポート_20250624_114438.csv"),
    ], {}),
    ("daily_sample_records", "日次レポート (sample records)", [
        (3, '"ID","ユーザー名","部署","作成日時","ステータス","数値データ","レポート種別"', "Reports/Daily/日次レポート_20250716_122913.csv"),
    ], {}),
    # --- Entra ID management (generation 3) ---
    ("user_list", "AllUsers (ユーザー一覧)", [
        (3, '"DisplayName","UserPrincipalName","Email","Department","JobTitle","AccountStatus","LicenseStatus","CreationDate","LastSignIn","UsageLocation","Id"', "Reports/EntraIDManagement/AllUsers_20250716_210654.csv"),
    ], {"history": "users"}),
    # --- Exchange (generation 2) ---
    ("exchange_anti_spam", "ExchangeAntiSpam", [
        (2, '"日付","検出タイプ","検出数","ブロック率","誤判定数","送信者ドメイン","対処アクション","IP評価","影響ユーザー","対応状況"', "Reports/Exchange/AntiSpam/ExchangeAntiSpam_20250624_114724.csv"),
    ], {}),
    ("exchange_delivery", "ExchangeDeliveryReport", [
        (2, '"期間","配信状態","メール数","配信率","平均配信時間","遅延配信","配信失敗","バウンス","再試行回数","最終更新"', "Reports/Exchange/Delivery/ExchangeDeliveryReport_20250624_114750.csv"),
    ], {}),
    ("exchange_mail_flow", "ExchangeMailFlow", [
        (2, '"期間","送信元","宛先","メール数","サイズ","状態","平均配信時間","エラー率","スパム検知","マルウェア検知"', "Reports/Exchange/MailFlow/ExchangeMailFlow_20250624_114706.csv"),
    ], {}),
    ("exchange_mailbox_monitoring", "Exchangeメールボックス監視", [
        (2, '"ユーザー名","メールボックスサイズ","使用率","最終ログイン","状態","警告"', "Reports/Exchange/Mailbox/Exchangeメールボックス監視_20250616_170336.csv"),
    ], {}),
    # --- General (generation 3) ---
    ("user_daily_activity", "UserDailyReport / General (user activity)", [
        (3, '"ユーザー名","ユーザープリンシパル名","部署","役職","最終サインイン","日次ログイン","日次メール","Teamsアクティビティ","アクティビティレベル","アクティビティスコア","ステータス","ReportDate"', "Reports/General/_202507162130.csv"),
        (3, '"UserName","UserPrincipalName","Department","JobTitle","LastSignIn","DailyLogins","DailyEmails","TeamsActivity","ActivityLevel","ActivityScore","Status","ReportDate"', "Reports/General/_20250719_183858.csv"),
        (3, '"ユーザー名","ユーザープリンシパル名","Teams活動","活動レベル","活動スコア","ステータス","レポート日"', "Reports/General/レポート_20250719_204658.csv"),
    ], {"aliases": _USER_DAILY_JA, "timestamp": "ReportDate"}),
    ("general_summary", "General (summary)", [
        (3, '"レポート種別","期間","アクティブユーザー数","新規ユーザー数","ライセンス使用率","主要アクティビティ","生成日時"', "Reports/General/_20250719_113030.csv"),
    ], {"kinds": {"期間": Kind.DATE_RANGE}, "timestamp": "生成日時"}),
    ("service_status", "DailyReport / PopupTest / 拡張機能テスト / General (service status)", [
        (3, '"ServiceName","ActiveUsersCount","TotalActivityCount","NewUsersCount","ErrorCount","ServiceStatus","PerformanceScore","LastCheck","Status"', "Reports/Regularreports/DailyReport_20250716_210653.csv"),
        (3, '"サービス名","アクティブユーザー数","総アクティビティ数","新規ユーザー数","エラー数","サービス状況","パフォーマンススコア","最終チェック","ステータス"', "Reports/Regularreports/拡張機能テスト_202507162125.csv"),
    ], {"aliases": _SERVICE_STATUS_JA}),
    ("general_test_results", "General (test results)", [
        (3, '"テストID","テスト名","カテゴリ","優先度","実行状況","結果","実行時間","エラーメッセージ","最終実行日時"', "Reports/General/_20250719_114928.csv"),
    ], {}),
    # --- Reports/Monthly (generation 1) ---
    ("app_usage_statistics", "App_Usage_Statistics", [
        (1, '"ApplicationName","UsageCount","UniqueUsers","UtilizationRate"', "Reports/Monthly/App_Usage_Statistics_20250613_164712.csv"),
        (1, '"ApplicationName","AvailabilityStatus","LicenseStatus"', "Reports/Monthly/App_Usage_Statistics_20250613_170951.csv"),
        (1, '"ApplicationName","AvailabilityStatus","LicenseStatus","VersionInfo"', "Reports/Monthly/App_Usage_Statistics_20250613_171757.csv"),
    ], {}),
    ("clean_user_license_details", "Clean_(Complete_)User_License_Details", [
        (1, "No,ユーザー名,部署コード,ライセンス数,ライセンス種別,月額コスト,最終サインイン,利用状況,最適化状況", "Reports/Monthly/Clean_Complete_User_License_Details.csv"),
        (1, "No,ユーザー名,部署コード,ライセンス種別,月額コスト（円）,利用状況,最適化状況,メールアドレス,作成日時,分析日時", "Reports/Monthly/Clean_User_License_Details.csv"),
        (1, '"No.","ユーザー名","部署コード","ライセンス種別","月額コスト","利用状況","最適化状況","ライセンス分類"', "Reports/Monthly/License_User_Summary_Table.csv"),
    ], {"aliases": {"No.": "No", "月額コスト（円）": "月額コスト"}, "timestamp": "分析日時", "history": "licenses"}),
    ("license_statistics", "Clean_User_License_Details_統計情報", [
        (1, "項目,数量,備考", "Reports/Monthly/Clean_User_License_Details_統計情報.csv"),
    ], {}),
    ("notice", "Exchange_License_Validity / OneDriveExternalSharing_Summary (notice)", [
        (1, '"情報","詳細","生成日時","備考"', "Reports/Monthly/Exchange_License_Validity_20250612_212157.csv"),
    ], {"timestamp": "生成日時"}),
    ("exchange_license_validity", "Exchange_License_Validity", [
        (1, '"UserName","UserPrincipalName","AccountEnabled","CreatedDate","LastSignIn","HasExchangeLicense","LicenseStatus","LicensePlan","ExchangeLicenses","HasMailbox","MailboxType","MailboxQuota","HasArchive","HasLitigation","MonthlyCostJPY","RiskLevel","RiskFactors","OptimizationRecommendation","UsageLocation","AnalysisTimestamp"', "Reports/Monthly/Exchange_License_Validity_20250612_205206.csv"),
    ], {"timestamp": "AnalysisTimestamp"}),
    ("inactive_users", "Inactive_Users_Report", [
        (1, '"UserPrincipalName","DisplayName","Department","AccountEnabled","InactiveReason","RiskLevel","LastSignInDateTime","CreatedDateTime","AnalysisTimestamp"', "Reports/Monthly/Inactive_Users_Report_20250613_164712.csv"),
        (1, '"UserPrincipalName","DisplayName","AccountEnabled","InactiveReason","RiskLevel","LastSignInDateTime","CreatedDateTime","AnalysisTimestamp","Note"', "Reports/Monthly/Inactive_Users_Report_20250613_165538.csv"),
        (1, '"UserPrincipalName","DisplayName","AccountEnabled","InactiveReason","RiskLevel","LastSignInDateTime","CreatedDateTime","AnalysisTimestamp","AssignedLicenses","Note"', "Reports/Monthly/Inactive_Users_Report_20250613_171757.csv"),
    ], {"timestamp": "AnalysisTimestamp"}),
    ("license_summary", "License_Analysis_Summary / License_Usage_Summary", [
        (1, '"LicenseName","SkuPartNumber","SkuId","TotalLicenses","ConsumedLicenses","AvailableLicenses","UtilizationRate","EstimatedCostPerUser","TotalEstimatedCost","WastedCost","LongTermInactiveUsers","RiskLevel","AlertLevel","Recommendations","AnalysisTimestamp"', "Reports/Monthly/License_Analysis_Summary_20250613_160500.csv"),
    ], {"timestamp": "AnalysisTimestamp", "history": "licenses"}),
    ("license_cost_analysis", "License_Cost_Analysis", [
        (1, '"MetricName","Value","Unit","Category","Description"', "Reports/Monthly/License_Cost_Analysis_20250613_160500.csv"),
    ], {}),
    ("license_unused_analysis", "License_Unused_Analysis", [
        (1, '"LicenseName","SkuPartNumber","UnusedCount","WastedCostPerMonth","PotentialSavingsPerYear","RecommendedAction","Priority"', "Reports/Monthly/License_Unused_Analysis_20250613_160500.csv"),
    ], {}),
    ("license_user_details", "License_User_Details", [
        (1, '"UserPrincipalName","DisplayName","Department","JobTitle","AccountEnabled","LicenseCount","AssignedLicenses","TotalMonthlyCost","LastSignInStatus","DaysSinceLastSignIn","UtilizationStatus","OptimizationRecommendations","CreatedDateTime","AnalysisTimestamp"', "Reports/Monthly/License_User_Details_20250613_162217.csv"),
    ], {"timestamp": "AnalysisTimestamp", "history": "licenses"}),
    ("onedrive_usage_analysis", "OneDrive_Usage_Analysis", [
        (1, '"UserName","UserPrincipalName","AccountEnabled","TotalSizeGB","UsedSpaceGB","RemainingSpaceGB","UsagePercent","ItemCount","LastModified","DriveStatus","RiskLevel","AlertLevel","Recommendations","HasOneDriveLicense","CreatedDate","UsageLocation","AnalysisTimestamp"', "Reports/Monthly/OneDrive_Usage_Analysis_20250613_110506.csv"),
    ], {"timestamp": "AnalysisTimestamp"}),
    ("teams_configuration_analysis", "Teams_Configuration_Analysis", [
        (1, '"TeamName","TeamId","Description","Privacy","Archived","MemberCount","OwnerCount","GuestCount","ChannelCount","LastActivity","RecordingPolicy","RecordingCompliance","RiskLevel","AlertLevel","Governance","Recommendations","CreatedDate","WebUrl","AnalysisTimestamp"', "Reports/Monthly/Teams_Configuration_Analysis_20250613_111445.csv"),
    ], {"timestamp": "AnalysisTimestamp"}),
    ("user_activity", "User_Activity_Report", [
        (1, '"UserPrincipalName","DisplayName","Department","JobTitle","AccountEnabled","LastSignInDateTime","DaysSinceLastSignIn","IsActive","ActivityLevel","CreatedDateTime","AnalysisTimestamp"', "Reports/Monthly/User_Activity_Report_20250613_165538.csv"),
        (1, '"UserPrincipalName","DisplayName","Department","JobTitle","AccountEnabled","LastSignInDateTime","DaysSinceLastSignIn","IsActive","ActivityLevel","CreatedDateTime","AnalysisTimestamp","AssignedLicenses","LicenseCount"', "Reports/Monthly/User_Activity_Report_20250613_171757.csv"),
    ], {"timestamp": "AnalysisTimestamp"}),
    ("monthly_summary", "月次レポート", [
        (2, '"カテゴリ","項目","今月","先月","年間累計","状態"', "Reports/Monthly/月次レポート_20250624_114504.csv"),
    ], {}),
    # --- OneDrive (generation 2) ---
    ("onedrive_external_sharing", "OneDriveExternalSharing", [
        (2, '"ファイル名","所有者","外部共有先","共有日時","権限レベル","有効期限","アクセス数","最終アクセス","リスクレベル","承認状況"', "Reports/OneDrive/ExternalSharing/OneDriveExternalSharing_20250624_115049.csv"),
    ], {}),
    ("onedrive_sharing", "OneDriveSharing", [
        (2, '"ファイル名","所有者","共有日時","共有タイプ","権限レベル","アクセス数","最終アクセス","ファイルサイズ","リンクタイプ","セキュリティ状態"', "Reports/OneDrive/Sharing/OneDriveSharing_20250624_115010.csv"),
    ], {}),
    ("onedrive_storage", "OneDriveストレージ利用状況", [
        (2, '"ユーザー名","使用容量","利用率","ファイル数","最終同期","状態"', "Reports/OneDrive/Storage/OneDriveストレージ利用状況_20250624_114950.csv"),
    ], {}),
    ("onedrive_sync_errors", "OneDriveSyncErrors", [
        (2, '"発生日時","ユーザー","エラータイプ","ファイル名","エラーコード","詳細メッセージ","解決状況","影響度","自動復旧","推奨アクション"', "Reports/OneDrive/SyncErrors/OneDriveSyncErrors_20250624_115041.csv"),
    ], {}),
    # --- Security, Teams (generation 2) ---
    ("permission_audit", "権限監査レポート", [
        (2, '"種別","名前","プリンシパル","グループ数","ライセンス数","リスクレベル","最終確認","推奨アクション"', "Reports/Security/Permissions/権限監査レポート_20250624_141454.csv"),
    ], {}),
    ("teams_usage", "Teams利用状況", [
        (2, '"項目","値","前月比","状態","詳細"', "Reports/Teams/Usage/Teams利用状況_20250624_114808.csv"),
    ], {}),
    # --- Reports/Weekly (generation 1) ---
    ("daily_threat_stats", "Daily_Threat_Stats", [
        (1, '"Date","SpamCount","PhishingCount","MalwareCount","TotalThreats"', "Reports/Weekly/Daily_Threat_Stats_20250612_203206.csv"),
    ], {}),
    ("onedrive_external_sharing_summary", "OneDriveExternalSharing_Summary", [
        (1, '"UserPrincipalName","DisplayName","Department","JobTitle","DriveId","DriveWebUrl","HasExternalSharing","ExternalShareCount","ExternalUserCount","PublicLinkCount","AnonymousLinkCount","SensitiveFileShareCount","SecurityRiskLevel","RiskFactors","LastExternalShareDate","ExternalDomains","RecommendedActions","AnalysisTimestamp"', "Reports/Weekly/OneDriveExternalSharing_Summary_20250613_124241.csv"),
    ], {"timestamp": "AnalysisTimestamp"}),
    ("room_utilization_audit", "Room_Utilization_Audit", [
        (1, '"RoomName","EmailAddress","ResourceCapacity","AnalysisPeriod","EstimatedBookings","UtilizationRate","PeakUsageHours","LastActivity","TotalItemSize","ItemCount","BookingPolicy","MaxBookingDays","MaxDurationMinutes","AllowRecurring","Status","RiskLevel","RecommendedAction","AnalysisTimestamp"', "Reports/Weekly/Room_Utilization_Audit_20250612_200023.csv"),
    ], {"timestamp": "AnalysisTimestamp"}),
    ("spam_phishing_analysis", "Spam_Phishing_Analysis", [
        (1, '"Timestamp","SenderAddress","RecipientAddress","Subject","Status","Size","MessageId","ToIP","FromIP","Direction","SenderDomain","RiskLevel","ThreatCategory"', "Reports/Weekly/Spam_Phishing_Analysis_20250612_203206.csv"),
    ], {"kinds": {"Status": _TEXT}}),
    ("suspicious_senders", "Suspicious_Senders", [
        (1, '"SenderAddress","ThreatCount","FirstSeen","LastSeen","ThreatTypes","TargetedUsers","RiskScore"', "Reports/Weekly/Suspicious_Senders_20250612_203206.csv"),
    ], {}),
    ("weekly_summary", "週次レポート", [
        (2, '"項目","今週","先週","変化","状態"', "Reports/Weekly/週次レポート_20250624_114453.csv"),
    ], {}),
    # --- Reports/Yearly (generation 1) ---
    ("budget_alert_analysis", "Budget_Alert_Analysis", [
        (1, '"BudgetCategory","CurrentMonthlyCost","PredictedYearlyCost","BudgetLimit","BudgetUtilization","RemainingBudget","AlertLevel","RecommendedAction","MonthsUntilOverage","AnalysisTimestamp"', "Reports/Yearly/Budget_Alert_Analysis_20250613_173308.csv"),
        (1, '"BudgetCategory","CurrentMonthlyCost","PredictedYearlyCost","BudgetLimit","BudgetUtilization","RemainingBudget","AlertLevel","RecommendedAction","MonthsUntilOverage","AnalysisTimestamp","LicenseType","ActualData"', "Reports/Yearly/Budget_Alert_Analysis_20250613_175312.csv"),
    ], {"timestamp": "AnalysisTimestamp"}),
    ("capacity_usage_forecast", "Capacity_Usage_Forecast", [
        (1, '"CapacityType","CurrentUsageGB","CurrentUsageTB","PredictedYearlyUsageGB","PredictedYearlyUsageTB","GrowthRate","UsagePercent","AlertLevel","RecommendedAction","AnalysisTimestamp"', "Reports/Yearly/Capacity_Usage_Forecast_20250613_173308.csv"),
        (1, '"CapacityType","CurrentUsageGB","CurrentUsageTB","PredictedYearlyUsageGB","PredictedYearlyUsageTB","GrowthRate","UsagePercent","AlertLevel","RecommendedAction","AnalysisTimestamp","Note"', "Reports/Yearly/Capacity_Usage_Forecast_20250613_175312.csv"),
    ], {"timestamp": "AnalysisTimestamp"}),
    ("license_consumption_trend", "License_Consumption_Trend", [
        (1, '"Month","MonthName","LicenseCount","MonthlyCost","UtilizationRate","AlertLevel","TrendDirection","AnalysisTimestamp"', "Reports/Yearly/License_Consumption_Trend_20250613_173308.csv"),
        (1, '"Month","MonthName","LicenseCount","MonthlyCost","UtilizationRate","AlertLevel","TrendDirection","LicenseType","ActualData","AnalysisTimestamp"', "Reports/Yearly/License_Consumption_Trend_20250613_175312.csv"),
    ], {"timestamp": "AnalysisTimestamp"}),
    ("yearly_summary", "年次レポート", [
        (2, '"領域","項目","実績","前年","計画値","達成率","評価"', "Reports/Yearly/年次レポート_20250624_114513.csv"),
    ], {}),
    # --- Templates/Samples (generation 3) ---
    ("license_usage_sample", "LicenseUsage_Sample", [
        (3, '"ライセンス種別","総ライセンス数","割当済み","利用可能","利用率","月額コスト","最終更新日","次回更新日","自動更新","コスト最適化可能"', "Templates/Samples/LicenseUsage_Sample_20250715_160017.csv"),
    ], {}),
    ("mailbox_usage_sample", "MailboxUsage_Sample", [
        (3, '"ユーザー名","メールアドレス","メールボックスサイズGB","クォータGB","使用率","アイテム数","送信メール数_日","受信メール数_日","スパムメール数_日","アーカイブ有効","訴訟ホールド","最終アクセス"', "Templates/Samples/MailboxUsage_Sample_20250715_160018.csv"),
    ], {}),
    ("security_report_sample", "SecurityReport_Sample", [
        (3, '"発生日時","イベントタイプ","ユーザー名","IPアドレス","場所","デバイス","リスクレベル","対応状況","詳細"', "Templates/Samples/SecurityReport_Sample_20250715_160017.csv"),
    ], {}),
    ("teams_activity_sample", "TeamsActivity_Sample", [
        (3, '"ユーザー名","チーム参加数","プライベートチャネル数","チャットメッセージ数_週","会議参加数_週","会議主催数_週","通話時間_分_週","画面共有回数_週","ファイル共有数_週","最終アクティビティ","デバイス","アクティビティレベル"', "Templates/Samples/TeamsActivity_Sample_20250715_160019.csv"),
    ], {}),
    ("user_activity_sample", "UserActivity_Sample", [
        (3, '"ユーザー名","メールアドレス","最終ログイン","ログイン回数","メール送信数","メール受信数","OneDrive使用量GB","アクティブステータス","MFA状態","リスクレベル"', "Templates/Samples/UserActivity_Sample_20250715_160016.csv"),
    ], {}),
]  # fmt: skip


def _build(name: str, title: str, variants: list[tuple[int, str, str]], options: Mapping[str, object]) -> ReportType:
    aliases: Mapping[str, str] = options.get("aliases", {})  # type: ignore[assignment]
    overrides: Mapping[str, Kind] = options.get("kinds", {})  # type: ignore[assignment]
    parsed = [(generation, tuple(next(csv.reader([line]))), example) for generation, line, example in variants]
    headers_by_canonical: dict[str, list[str]] = {}
    for _, headers, _ in parsed:
        for header in headers:
            canonical = aliases.get(header, header)
            spellings = headers_by_canonical.setdefault(canonical, [])
            if header not in spellings:
                spellings.append(header)
    columns = []
    for canonical, spellings in headers_by_canonical.items():
        kind = overrides.get(canonical) or _KINDS_BY_HEADER.get(canonical) or Kind.TEXT
        columns.append(Column(column_name(canonical), kind, tuple(spellings), _UNITS_BY_HEADER.get(canonical)))
    timestamp = options.get("timestamp")
    return ReportType(
        name=name,
        title=title,
        columns=tuple(columns),
        variants=tuple(Variant(generation, headers, example) for generation, headers, example in parsed),
        timestamp_column=column_name(str(timestamp)) if timestamp else None,
        directory_history=options.get("history"),  # type: ignore[arg-type]
    )


REPORT_TYPES: dict[str, ReportType] = {
    name: _build(name, title, variants, options) for name, title, variants, options in _CATALOGUE
}


@cache
def _header_index(report_type: str) -> dict[str, Column]:
    return {
        normalize_header(header): column for column in REPORT_TYPES[report_type].columns for header in column.headers
    }


@cache
def _required_columns(report_type: str) -> frozenset[str]:
    """The columns every catalogued variant of the type has (whatever the language of their headers)."""
    index = _header_index(report_type)
    return frozenset.intersection(
        *(
            frozenset(index[normalize_header(header)].name for header in variant.headers)
            for variant in REPORT_TYPES[report_type].variants
        )
    )


@cache
def _variant_sets() -> list[tuple[frozenset[str], ReportType, Variant]]:
    return [
        (frozenset(normalize_header(header) for header in variant.headers), report_type, variant)
        for report_type in REPORT_TYPES.values()
        for variant in report_type.variants
    ]


def _describe(report_type: ReportType, variant: Variant, seen: frozenset[str], raw: Mapping[str, str]) -> str:
    known = {normalize_header(header): header for header in variant.headers}
    extra = sorted(raw[header] for header in seen - known.keys())
    missing = sorted(known[header] for header in known.keys() - seen)
    parts = [f"{report_type.name} (generation {variant.generation})"]
    if extra:
        parts.append("+" + ", +".join(extra))
    if missing:
        parts.append("-" + ", -".join(missing))
    return " ".join(parts)


def recognize(headers: Iterable[str]) -> Layout | UnknownLayout:
    """The layout of a file from its header names as written (repeated names included), or why it is unknown."""
    file_headers = tuple(headers)
    raw = {normalize_header(header): header for header in file_headers}
    seen = frozenset(raw)
    if not seen or seen == {""}:
        return UnknownLayout("the header row is empty", file_headers, ())
    scored = []
    for variant_set, report_type, variant in _variant_sets():
        if variant_set == seen:
            return _layout(report_type, variant.generation, variant, file_headers)
        overlap = len(variant_set & seen) / len(variant_set | seen)
        scored.append((overlap, report_type, variant))
    scored.sort(key=lambda item: -item[0])
    candidates: dict[str, tuple[ReportType, Variant]] = {}
    for _, report_type, variant in scored:
        index = _header_index(report_type.name)
        if report_type.name in candidates or not seen <= index.keys():
            continue
        if _required_columns(report_type.name) <= {index[header].name for header in seen}:
            candidates[report_type.name] = (report_type, variant)
    if len(candidates) == 1:
        report_type, variant = next(iter(candidates.values()))
        return _layout(report_type, variant.generation, None, file_headers)
    best_per_type: dict[str, str] = {}
    for score, report_type, variant in scored:
        if score > 0 and report_type.name not in best_per_type and len(best_per_type) < 3:
            best_per_type[report_type.name] = _describe(report_type, variant, seen, raw)
    closest = tuple(best_per_type.values())
    listed = ", ".join(f'"{header}"' for header in file_headers)
    if candidates:
        reason = f"headers fit several known layouts ({', '.join(sorted(candidates))}); headers seen: {listed}"
    else:
        reason = f"no known layout has these headers; headers seen: {listed}"
    return UnknownLayout(reason, file_headers, closest)


def _layout(report_type: ReportType, generation: int, variant: Variant | None, file_headers: tuple[str, ...]) -> Layout:
    index = _header_index(report_type.name)
    columns = [index[normalize_header(header)] for header in file_headers]
    present = {column.name for column in columns}
    missing = tuple(column.name for column in report_type.columns if column.name not in present)
    return Layout(report_type, generation, variant, missing, tuple(columns))

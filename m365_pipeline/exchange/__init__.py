"""Exchange Online: what the old tool took from Exchange Online PowerShell, and where each of its reports can come
from now. Microsoft Graph v1.0 covers mailbox sizes and e-mail activity (usage reports) and per-user mailbox
settings; message trace, mail flow and anti-spam figures are not in v1.0. ``sources`` says so per report."""

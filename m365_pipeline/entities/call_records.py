"""Call records (``GET /communications/callRecords``, then ``GET /communications/callRecords/{id}?$expand=
sessions($expand=segments)`` for each): one peer-to-peer or group call, its sessions, their segments, and the
media streams of each segment with their quality figures.

The raw record is the call as Graph answers the expanded GET, with every page of its sessions merged into
``sessions``. Durations (jitter, round-trip times, freezes) stay the ISO 8601 text Graph sent (``PT0.016S``);
the warehouse reads them into numbers.
"""

from __future__ import annotations

from m365_pipeline.entities.pii import PiiClass
from m365_pipeline.entities.spec import EntitySpec, GraphModel, graph_field
from m365_pipeline.entities.types import GraphTimestamp, RequiredText

_DURATION = "ISO 8601 duration as Graph sent it (e.g. PT0.016S)"


class Identity(GraphModel):
    graph_type = "microsoft.graph.identity"

    id: str | None = graph_field("Id of the identity (a user's object id, a phone number...).", PiiClass.QUASI)
    displayName: str | None = graph_field("Name of the identity.", PiiClass.DIRECT)
    tenantId: str | None = graph_field("Tenant the identity belongs to.", PiiClass.NONE)


class IdentitySet(GraphModel):
    graph_type = "microsoft.graph.identitySet"

    user: Identity | None = graph_field("The identity when it is a user.", PiiClass.DIRECT)
    phone: Identity | None = graph_field("The identity when it is a phone (PSTN).", PiiClass.DIRECT)
    application: Identity | None = graph_field("The identity when it is an application (a bot).", PiiClass.NONE)


class Organizer(GraphModel):
    graph_type = "microsoft.graph.callRecords.organizer"

    id: str | None = graph_field("Id of the organizer.", PiiClass.QUASI)
    identity: IdentitySet | None = graph_field("Who organized the call.", PiiClass.DIRECT)


class UserAgent(GraphModel):
    graph_type = "microsoft.graph.callRecords.clientUserAgent"

    headerValue: str | None = graph_field("User-agent header of the client.", PiiClass.NONE)
    platform: str | None = graph_field("Platform: windows, macOS, iOS, android, web...", PiiClass.NONE)
    productFamily: str | None = graph_field("Product: teams, skypeForBusiness, lync...", PiiClass.NONE)


class Feedback(GraphModel):
    graph_type = "microsoft.graph.callRecords.userFeedback"

    rating: str | None = graph_field("Rating the user gave the call: excellent, good, fair, poor, bad.", PiiClass.NONE)
    text: str | None = graph_field("What the user wrote about the call.", PiiClass.QUASI)


class Endpoint(GraphModel):
    graph_type = "microsoft.graph.callRecords.participantEndpoint"

    name: str | None = graph_field("Name of the endpoint's device.", PiiClass.QUASI)
    userAgent: UserAgent | None = graph_field("Client of the endpoint.", PiiClass.NONE)
    identity: IdentitySet | None = graph_field("Who was at the endpoint.", PiiClass.DIRECT)
    feedback: Feedback | None = graph_field("Feedback the user gave at the end of the call.", PiiClass.QUASI)


class FailureInfo(GraphModel):
    graph_type = "microsoft.graph.callRecords.failureInfo"

    stage: str | None = graph_field("Where it failed: callSetup, midcall, unknown.", PiiClass.NONE)
    reason: str | None = graph_field("Why it failed.", PiiClass.NONE)


class NetworkInfo(GraphModel):
    graph_type = "microsoft.graph.callRecords.networkInfo"

    ipAddress: str | None = graph_field("IP address of the endpoint.", PiiClass.QUASI)
    subnet: str | None = graph_field("Subnet of the endpoint.", PiiClass.QUASI)
    connectionType: str | None = graph_field("wired, wifi, mobile, tunnel...", PiiClass.NONE)
    linkSpeed: int | None = graph_field("Link speed in bits per second.", PiiClass.NONE)


class DeviceInfo(GraphModel):
    graph_type = "microsoft.graph.callRecords.deviceInfo"

    captureDeviceName: str | None = graph_field("Microphone or camera used.", PiiClass.NONE)
    renderDeviceName: str | None = graph_field("Speaker or headset used.", PiiClass.NONE)


class MediaStream(GraphModel):
    graph_type = "microsoft.graph.callRecords.mediaStream"

    streamId: str | None = graph_field("Id of the stream.", PiiClass.NONE)
    streamDirection: str | None = graph_field("callerToCallee or calleeToCaller.", PiiClass.NONE)
    startDateTime: GraphTimestamp = graph_field("When the stream started (UTC).", PiiClass.QUASI)
    endDateTime: GraphTimestamp = graph_field("When the stream ended (UTC).", PiiClass.QUASI)
    audioCodec: str | None = graph_field("Audio codec: opus, satin, silk, g722...", PiiClass.NONE)
    videoCodec: str | None = graph_field("Video codec: h264, av1...", PiiClass.NONE)
    averageAudioDegradation: float | None = graph_field(
        "Average network Mean Opinion Score degradation of the received audio.", PiiClass.NONE
    )
    averageAudioNetworkJitter: str | None = graph_field(f"Average audio network jitter: {_DURATION}.", PiiClass.NONE)
    averageBandwidthEstimate: int | None = graph_field("Average estimated bandwidth in bits per second.", PiiClass.NONE)
    averageFreezeDuration: str | None = graph_field(f"Average video freeze: {_DURATION}.", PiiClass.NONE)
    averageJitter: str | None = graph_field(f"Average jitter (RFC 3550): {_DURATION}.", PiiClass.NONE)
    averagePacketLossRate: float | None = graph_field("Average packet loss rate (0 to 1).", PiiClass.NONE)
    averageRatioOfConcealedSamples: float | None = graph_field(
        "Share of audio frames concealed after packet loss.", PiiClass.NONE
    )
    averageReceivedFrameRate: float | None = graph_field("Average frames per second received.", PiiClass.NONE)
    averageRoundTripTime: str | None = graph_field(f"Average round-trip time: {_DURATION}.", PiiClass.NONE)
    averageVideoFrameLossPercentage: float | None = graph_field(
        "Average percentage of video frames lost.", PiiClass.NONE
    )
    averageVideoFrameRate: float | None = graph_field("Average video frames per second.", PiiClass.NONE)
    averageVideoPacketLossRate: float | None = graph_field("Average video packet loss rate (0 to 1).", PiiClass.NONE)
    isAudioForwardErrorCorrectionUsed: bool | None = graph_field("Whether audio FEC was used.", PiiClass.NONE)
    lowFrameRateRatio: float | None = graph_field("Share of the call below 7.5 frames per second.", PiiClass.NONE)
    lowVideoProcessingCapabilityRatio: float | None = graph_field(
        "Share of the call with less than 70% of the expected video processing.", PiiClass.NONE
    )
    maxAudioNetworkJitter: str | None = graph_field(f"Maximum audio network jitter: {_DURATION}.", PiiClass.NONE)
    maxJitter: str | None = graph_field(f"Maximum jitter: {_DURATION}.", PiiClass.NONE)
    maxPacketLossRate: float | None = graph_field("Maximum packet loss rate (0 to 1).", PiiClass.NONE)
    maxRatioOfConcealedSamples: float | None = graph_field("Maximum share of concealed samples.", PiiClass.NONE)
    maxRoundTripTime: str | None = graph_field(f"Maximum round-trip time: {_DURATION}.", PiiClass.NONE)
    packetUtilization: int | None = graph_field("Packets of the stream.", PiiClass.NONE)
    postForwardErrorCorrectionPacketLossRate: float | None = graph_field("Packet loss rate after FEC.", PiiClass.NONE)
    rmsFreezeDuration: str | None = graph_field(f"Root mean square of video freezes: {_DURATION}.", PiiClass.NONE)
    wasMediaBypassed: bool | None = graph_field("Whether the media bypassed the Mediation Server.", PiiClass.NONE)


class Media(GraphModel):
    graph_type = "microsoft.graph.callRecords.media"

    label: str | None = graph_field("What the media is: main-audio, main-video, applicationsharing...", PiiClass.NONE)
    callerNetwork: NetworkInfo | None = graph_field("Network of the caller.", PiiClass.QUASI)
    calleeNetwork: NetworkInfo | None = graph_field("Network of the callee.", PiiClass.QUASI)
    callerDevice: DeviceInfo | None = graph_field("Devices of the caller.", PiiClass.NONE)
    calleeDevice: DeviceInfo | None = graph_field("Devices of the callee.", PiiClass.NONE)
    streams: list[MediaStream] | None = graph_field("The media's streams, one per direction.", PiiClass.NONE)


class Segment(GraphModel):
    graph_type = "microsoft.graph.callRecords.segment"

    id: str | None = graph_field("Id of the segment.", PiiClass.NONE)
    startDateTime: GraphTimestamp = graph_field("When the segment started (UTC).", PiiClass.QUASI)
    endDateTime: GraphTimestamp = graph_field("When the segment ended (UTC).", PiiClass.QUASI)
    caller: Endpoint | None = graph_field("Endpoint that started the segment.", PiiClass.DIRECT)
    callee: Endpoint | None = graph_field("Endpoint that answered the segment.", PiiClass.DIRECT)
    failureInfo: FailureInfo | None = graph_field("Why the segment failed, when it did.", PiiClass.NONE)
    media: list[Media] | None = graph_field("Media of the segment, with their streams.", PiiClass.QUASI)


class Session(GraphModel):
    graph_type = "microsoft.graph.callRecords.session"

    id: str | None = graph_field("Id of the session.", PiiClass.NONE)
    modalities: list[str] | None = graph_field("audio, video, screenSharing, data...", PiiClass.NONE)
    startDateTime: GraphTimestamp = graph_field("When the first user joined the session (UTC).", PiiClass.QUASI)
    endDateTime: GraphTimestamp = graph_field("When the last user left the session (UTC).", PiiClass.QUASI)
    isTest: bool | None = graph_field("Whether the session was a test call.", PiiClass.NONE)
    caller: Endpoint | None = graph_field("Endpoint that started the session.", PiiClass.DIRECT)
    callee: Endpoint | None = graph_field("Endpoint that answered the session.", PiiClass.DIRECT)
    failureInfo: FailureInfo | None = graph_field("Why the session failed, when it did.", PiiClass.NONE)
    segments: list[Segment] | None = graph_field("Segments of the session.", PiiClass.QUASI)


class CallRecord(GraphModel):
    graph_type = "microsoft.graph.callRecords.callRecord"

    id: RequiredText = graph_field("Id of the call record.", PiiClass.NONE, required=True)
    version: int | None = graph_field("Version of the record: a higher one holds more data.", PiiClass.NONE)
    type: str | None = graph_field("peerToPeer, groupCall or unknown.", PiiClass.NONE)
    modalities: list[str] | None = graph_field("Modalities used in the call.", PiiClass.NONE)
    startDateTime: GraphTimestamp = graph_field(
        "When the first user joined (UTC; up to 7 fractional digits, kept exactly as Graph sent it).",
        PiiClass.QUASI,
        required=True,
    )
    endDateTime: GraphTimestamp = graph_field("When the last user left (UTC).", PiiClass.QUASI)
    lastModifiedDateTime: GraphTimestamp = graph_field("When the record was last changed (UTC).", PiiClass.NONE)
    joinWebUrl: str | None = graph_field("Meeting URL of the call; none for most peer-to-peer calls.", PiiClass.QUASI)
    organizer_v2: Organizer | None = graph_field("Who organized the call.", PiiClass.DIRECT)
    sessions: list[Session] | None = graph_field(
        "Sessions of the call (every page of sessions@odata.nextLink merged).", PiiClass.DIRECT
    )


CALL_RECORDS = EntitySpec(
    name="call_records",
    path="/communications/callRecords",
    model=CallRecord,
    permission="CallRecords.Read.All",
)

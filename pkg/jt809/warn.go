package jt809

import "time"

// Alarm sources (WARN_SRC, 2011).
const (
	WarnSrcTerminal   = 1
	WarnSrcEnterprise = 2
	WarnSrcGovernment = 3
	WarnSrcOther      = 9
)

// Alarm types (WARN_TYPE, STD11 table 75).
const (
	WarnOverspeed      = 0x0001
	WarnFatigue        = 0x0002
	WarnEmergency      = 0x0003
	WarnEnterArea      = 0x0004
	WarnLeaveArea      = 0x0005
	WarnRoadBlocked    = 0x0006
	WarnDangerousRoad  = 0x0007
	WarnOutOfBounds    = 0x0008
	WarnTheft          = 0x0009
	WarnRobbery        = 0x000A
	WarnRouteDeviation = 0x000B
	WarnVehicleMoved   = 0x000C
	WarnOvertimeDrive  = 0x000D
	WarnOther          = 0x00FF
)

// Handling results (0x1401 RESULT; 0x1403 / 0x1412 use the same codes).
const (
	ResultProcessing = 0 // 处理中
	ResultDone       = 1 // 已处理完毕
	ResultNoAction   = 2 // 不作处理
	ResultLater      = 3 // 将来处理
)

// WarnInfo is 0x1402 UP_WARN_MSG_ADPT_INFO, the report of an alarm.
// 2011 uses Src, Type, Time, InfoID, Content; 2019 adds the platform ids, start and end times,
// the plate (moved from the wrapper) and the line id, and has no WARN_SRC nor INFO_ID.
type WarnInfo struct {
	Src     uint8
	Type    uint16
	Time    time.Time
	InfoID  uint32
	Content string

	SourcePlatformID string // 2019
	StartTime        time.Time
	EndTime          time.Time
	Plate            string
	Color            uint8
	DestPlatformID   string
	DrvLineID        uint32
}

// Marshal encodes the data for version v.
func (m WarnInfo) Marshal(v Version) []byte {
	var w w
	content := gbk(m.Content)
	if len(content) > MaxInfo {
		content = content[:MaxInfo]
	}
	if v == V2011 {
		w.u8(m.Src)
		w.u16(m.Type)
		w.timeT(m.Time)
		w.u32(m.InfoID)
	} else {
		w.octet(m.SourcePlatformID, 11)
		w.u16(m.Type)
		w.timeT(m.Time)
		w.timeT(m.StartTime)
		w.timeT(m.EndTime)
		w.octet(m.Plate, 21)
		w.u8(m.Color)
		w.octet(m.DestPlatformID, 11)
		w.u32(m.DrvLineID)
	}
	w.u32(uint32(len(content)))
	w.raw(content)
	return w.b
}

// ParseWarnInfo decodes 0x1402 data.
func ParseWarnInfo(v Version, b []byte) (WarnInfo, error) {
	r := r{b: b}
	var m WarnInfo
	if v == V2011 {
		m.Src = r.u8("WARN_SRC")
		m.Type = r.u16("WARN_TYPE")
		m.Time = r.timeT("WARN_TIME")
		m.InfoID = r.u32("INFO_ID")
	} else {
		m.SourcePlatformID = r.octet(11, "SOURCE_PLATFORM_ID")
		m.Type = r.u16("WARN_TYPE")
		m.Time = r.timeT("WARN_TIME")
		m.StartTime = r.timeT("START_TIME")
		m.EndTime = r.timeT("END_TIME")
		m.Plate = r.octet(21, "VEHICLE_NO")
		m.Color = r.u8("VEHICLE_COLOR")
		m.DestPlatformID = r.octet(11, "DESTINATION_PLATFORM_ID")
		m.DrvLineID = r.u32("DRV_LINE_ID")
	}
	m.Content = r.content(MaxInfo, "INFO_CONTENT")
	return m, r.done("0x1402")
}

// HandleResult is the handling result of a reported alarm: 2011/2013 0x1403 (INFO_ID, RESULT),
// 2019 0x1412 (SOURCE_DATA_TYPE, SOURCE_MSG_SN of the 0x1402 frame, RESULT).
type HandleResult struct {
	InfoID         uint32 // 2011
	SourceDataType uint16 // 2019
	SourceMsgSN    uint32 // 2019
	Result         uint8
}

// DataType is the sub-business type of the handling result in version v.
func (HandleResult) DataType(v Version) uint16 {
	if v == V2019 {
		return DataWarnHandleResult
	}
	return DataAdptTodoInfo
}

// Marshal encodes the data for version v.
func (m HandleResult) Marshal(v Version) []byte {
	var w w
	if v == V2019 {
		w.u16(m.SourceDataType)
		w.u32(m.SourceMsgSN)
	} else {
		w.u32(m.InfoID)
	}
	w.u8(m.Result)
	return w.b
}

// ParseHandleResult decodes 0x1403 (2011) or 0x1412 (2019) data.
func ParseHandleResult(v Version, b []byte) (HandleResult, error) {
	r := r{b: b}
	var m HandleResult
	if v == V2019 {
		m.SourceDataType = r.u16("SOURCE_DATA_TYPE")
		m.SourceMsgSN = r.u32("SOURCE_MSG_SN")
	} else {
		m.InfoID = r.u32("INFO_ID")
	}
	m.Result = r.u8("RESULT")
	return m, r.done("handling result")
}

// UrgeTodoReq is 0x9401 DOWN_WARN_MSG_URGE_TODO_REQ, the regulator's supervision of an alarm.
// 2011 (table 50) identifies the alarm by source, type and time and carries a SUPERVISION_ID;
// 2019 (as read by the YD implementation; no published frame exists) names the alarm report by
// its SOURCE_DATA_TYPE and SOURCE_MSG_SN and has no supervision id: the frame's MSG_SN serves.
type UrgeTodoReq struct {
	Src             uint8  // 2011
	Type            uint16 // 2011
	WarnTime        time.Time
	SupervisionID   uint32 // 2011
	EndTime         time.Time
	Level           uint8 // 0 urgent, 1 normal
	Supervisor      string
	SupervisorTel   string
	SupervisorEmail string

	PlatformID     string // 2019
	SourceDataType uint16 // 2019
	SourceMsgSN    uint32 // 2019
}

// Marshal encodes the data for version v.
func (m UrgeTodoReq) Marshal(v Version) []byte {
	var w w
	if v == V2011 {
		w.u8(m.Src)
		w.u16(m.Type)
		w.timeT(m.WarnTime)
		w.u32(m.SupervisionID)
	} else {
		w.octet(m.PlatformID, 11)
		w.timeT(m.WarnTime)
		w.u16(m.SourceDataType)
		w.u32(m.SourceMsgSN)
	}
	w.timeT(m.EndTime)
	w.u8(m.Level)
	w.octet(m.Supervisor, 16)
	w.octet(m.SupervisorTel, 20)
	w.octet(m.SupervisorEmail, 32)
	return w.b
}

// ParseUrgeTodoReq decodes 0x9401 data.
func ParseUrgeTodoReq(v Version, b []byte) (UrgeTodoReq, error) {
	r := r{b: b}
	var m UrgeTodoReq
	if v == V2011 {
		m.Src = r.u8("WARN_SRC")
		m.Type = r.u16("WARN_TYPE")
		m.WarnTime = r.timeT("WARN_TIME")
		m.SupervisionID = r.u32("SUPERVISION_ID")
	} else {
		m.PlatformID = r.octet(11, "PLATFORM_ID")
		m.WarnTime = r.timeT("WARN_TIME")
		m.SourceDataType = r.u16("SOURCE_DATA_TYPE")
		m.SourceMsgSN = r.u32("SOURCE_MSG_SN")
	}
	m.EndTime = r.timeT("SUPERVISION_ENDTIME")
	m.Level = r.u8("SUPERVISION_LEVEL")
	m.Supervisor = r.octet(16, "SUPERVISOR")
	m.SupervisorTel = r.octet(20, "SUPERVISOR_TEL")
	m.SupervisorEmail = r.octet(32, "SUPERVISOR_EMAIL")
	return m, r.done("0x9401")
}

// UrgeTodoAck is 0x1401: 2011 SUPERVISION_ID, RESULT; 2019 (the real GuoJian frame) the
// supervision id, SOURCE_DATA_TYPE and SOURCE_MSG_SN of the alarm report, RESULT.
type UrgeTodoAck struct {
	SupervisionID  uint32
	SourceDataType uint16 // 2019
	SourceMsgSN    uint32 // 2019
	Result         uint8
}

// Marshal encodes the data for version v.
func (m UrgeTodoAck) Marshal(v Version) []byte {
	var w w
	w.u32(m.SupervisionID)
	if v == V2019 {
		w.u16(m.SourceDataType)
		w.u32(m.SourceMsgSN)
	}
	w.u8(m.Result)
	return w.b
}

// ParseUrgeTodoAck decodes 0x1401 data.
func ParseUrgeTodoAck(v Version, b []byte) (UrgeTodoAck, error) {
	r := r{b: b}
	m := UrgeTodoAck{SupervisionID: r.u32("SUPERVISION_ID")}
	if v == V2019 {
		m.SourceDataType = r.u16("SOURCE_DATA_TYPE")
		m.SourceMsgSN = r.u32("SOURCE_MSG_SN")
	}
	m.Result = r.u8("RESULT")
	return m, r.done("0x1401")
}

// PostQueryReq is 0x9301, the regulator's duty check (平台查岗).
type PostQueryReq struct {
	ObjectType uint8  // 2019
	ObjectID   string // 2019, 20 bytes
	AnswerMin  uint8  // 2019: minutes allowed to answer
	InfoID     uint32
	Content    string
}

// Marshal encodes the data for version v.
func (m PostQueryReq) Marshal(v Version) []byte {
	var w w
	if v == V2019 {
		w.u8(m.ObjectType)
		w.octet(m.ObjectID, 20)
		w.u8(m.AnswerMin)
	}
	w.u32(m.InfoID)
	c := gbk(m.Content)
	w.u32(uint32(len(c)))
	w.raw(c)
	return w.b
}

// ParsePostQueryReq decodes 0x9301 data.
func ParsePostQueryReq(v Version, b []byte) (PostQueryReq, error) {
	r := r{b: b}
	var m PostQueryReq
	if v == V2019 {
		m.ObjectType = r.u8("OBJECT_TYPE")
		m.ObjectID = r.octet(20, "OBJECT_ID")
		m.AnswerMin = r.u8("ANSWER_TIME")
	}
	m.InfoID = r.u32("INFO_ID")
	m.Content = r.content(MaxInfo, "INFO_CONTENT")
	return m, r.done("0x9301")
}

// PostQueryAck is 0x1301, the answer to a duty check. 2011: INFO_ID (echo) and the answer;
// 2019: object type, responder, telephone, object id, the 0x9301's data type and MSG_SN, answer.
type PostQueryAck struct {
	InfoID         uint32 // 2011
	ObjectType     uint8  // 2019
	Responder      string // 2019, 16 bytes
	ResponderTel   string // 2019, 20 bytes
	ObjectID       string // 2019, 20 bytes
	SourceDataType uint16 // 2019
	SourceMsgSN    uint32 // 2019
	Content        string
}

// Marshal encodes the data for version v.
func (m PostQueryAck) Marshal(v Version) []byte {
	var w w
	if v == V2019 {
		w.u8(m.ObjectType)
		w.octet(m.Responder, 16)
		w.octet(m.ResponderTel, 20)
		w.octet(m.ObjectID, 20)
		w.u16(m.SourceDataType)
		w.u32(m.SourceMsgSN)
	} else {
		w.u32(m.InfoID)
	}
	c := gbk(m.Content)
	if len(c) > MaxInfo {
		c = c[:MaxInfo]
	}
	w.u32(uint32(len(c)))
	w.raw(c)
	return w.b
}

// ParsePostQueryAck decodes 0x1301 data.
func ParsePostQueryAck(v Version, b []byte) (PostQueryAck, error) {
	r := r{b: b}
	var m PostQueryAck
	if v == V2019 {
		m.ObjectType = r.u8("OBJECT_TYPE")
		m.Responder = r.octet(16, "RESPONDER")
		m.ResponderTel = r.octet(20, "RESPONDER_TEL")
		m.ObjectID = r.octet(20, "OBJECT_ID")
		m.SourceDataType = r.u16("SOURCE_DATA_TYPE")
		m.SourceMsgSN = r.u32("SOURCE_MSG_SN")
	} else {
		m.InfoID = r.u32("INFO_ID")
	}
	m.Content = r.content(MaxInfo, "INFO_CONTENT")
	if err := r.done("0x1301"); err != nil {
		return m, err
	}
	return m, nil
}

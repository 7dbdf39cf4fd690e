package jt809

import "fmt"

// Business is a decoded wrapper with its typed data (one of the *Req/*Ack/*Info types, or nil
// for a data type this package does not decode, whose bytes stay in Wrapper.Data).
type Business struct {
	Wrapper VehicleMsg
	Data    any
}

// ParseBody decodes the body of message msgID in version v: link bodies to their types, the
// 0x1200/0x1300/0x1400/0x9300/0x9400 families to a Business, empty bodies to nil.
func ParseBody(v Version, msgID uint16, b []byte) (any, error) {
	switch msgID {
	case MsgUpConnectReq:
		return ParseUpConnectReq(v, b)
	case MsgUpConnectRsp:
		return ParseUpConnectRsp(b)
	case MsgUpDisconnectReq:
		return ParseUpDisconnectReq(b)
	case MsgDownConnectReq:
		return ParseDownConnectReq(b)
	case MsgDownConnectRsp:
		return ParseDownConnectRsp(b)
	case MsgUpDisconnectRsp, MsgUpLinkTestReq, MsgUpLinkTestRsp, MsgDownLinkTestReq, MsgDownLinkTestRsp, MsgDownDisconnectRsp:
		if len(b) != 0 {
			return nil, fmt.Errorf("%w: message %04X has a %d-byte body, expected none", ErrBody, msgID, len(b))
		}
		return nil, nil
	case MsgUpExg, MsgUpPlatform, MsgUpWarn, MsgDownPlatform, MsgDownWarn:
		wr, err := ParseVehicleMsg(b, PlateIn(v, msgID))
		if err != nil {
			return nil, err
		}
		bz := Business{Wrapper: wr}
		switch wr.DataType {
		case DataRealLocation:
			bz.Data, err = ParseRealLocation(v, wr.Data)
		case DataHistoryLocation:
			bz.Data, err = ParseHistoryLocation(v, wr.Data)
		case DataPostQueryAck:
			bz.Data, err = ParsePostQueryAck(v, wr.Data)
		case DataPostQueryReq:
			bz.Data, err = ParsePostQueryReq(v, wr.Data)
		case DataUrgeTodoAck:
			bz.Data, err = ParseUrgeTodoAck(v, wr.Data)
		case DataUrgeTodoReq:
			bz.Data, err = ParseUrgeTodoReq(v, wr.Data)
		case DataAdptInfo:
			bz.Data, err = ParseWarnInfo(v, wr.Data)
		case DataAdptTodoInfo, DataWarnHandleResult:
			bz.Data, err = ParseHandleResult(v, wr.Data)
		}
		return bz, err
	}
	return nil, fmt.Errorf("jt809: message %04X not decoded", msgID)
}

package main

import "google.golang.org/protobuf/encoding/protowire"

type event int

const (
	eventOther event = iota
	eventReady
	eventDelivery
)

// Field numbers of im.v1.SubscribeResponse's oneof and of the client message id
// in the two delivery events (proto/im/v1/events.proto, message.proto, group.proto).
const (
	fieldReady           = 1
	fieldMessage         = 3
	fieldGroupMessage    = 40
	fieldClientMessageID = 9 // in Message and in GroupMessage
)

// classify reads just enough of a SubscribeResponse: whether it is Ready, or a
// one-to-one / group message and then its client message id (the bench's
// tracking id). Nothing else is decoded.
// The id aliases msg: the caller copies it only if it keeps it.
func classify(msg []byte) (event, []byte) {
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return eventOther, nil
		}
		msg = msg[n:]
		if typ == protowire.BytesType && (num == fieldReady || num == fieldMessage || num == fieldGroupMessage) {
			inner, m := protowire.ConsumeBytes(msg)
			if m < 0 {
				return eventOther, nil
			}
			if num == fieldReady {
				return eventReady, nil
			}
			return eventDelivery, clientMessageID(inner)
		}
		m := protowire.ConsumeFieldValue(num, typ, msg)
		if m < 0 {
			return eventOther, nil
		}
		msg = msg[m:]
	}
	return eventOther, nil
}

func clientMessageID(msg []byte) []byte {
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return nil
		}
		msg = msg[n:]
		if num == fieldClientMessageID && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(msg)
			if m < 0 {
				return nil
			}
			return v
		}
		m := protowire.ConsumeFieldValue(num, typ, msg)
		if m < 0 {
			return nil
		}
		msg = msg[m:]
	}
	return nil
}

// A Go client of the IM server, generated with buf (protoc-gen-go + protoc-gen-connect-go):
// alice sends bob a message, bob receives it on his live stream, syncs the conversation
// and marks it read. Over the Connect protocol (HTTP/1.1) or gRPC (HTTP/2 without TLS).
//
//	npx buf generate --template buf.gen.go.yaml     (from the repository root)
//	cd examples/go && IM_PROTOCOL=grpc go run .
//
// Settings come from the environment: IM_URL (default http://127.0.0.1:8080), IM_PROTOCOL
// (connect or grpc), IM_ALICE / IM_BOB (user ids, default alice and bob) and their
// UserSigs IM_ALICE_SIG / IM_BOB_SIG, plus IM_ADMIN_SIG to import both accounts first.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"connectrpc.com/connect"

	imv1 "imclient/gen/im/v1"
	"imclient/gen/im/v1/imv1connect"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run() error {
	baseURL := env("IM_URL", "http://127.0.0.1:8080")
	alice, bob := env("IM_ALICE", "alice"), env("IM_BOB", "bob")
	var protocol []connect.ClientOption
	var protocols http.Protocols
	switch p := env("IM_PROTOCOL", "connect"); p {
	case "connect":
		protocols.SetHTTP1(true)
	case "grpc":
		protocol = append(protocol, connect.WithGRPC())
		protocols.SetUnencryptedHTTP2(true) // gRPC needs HTTP/2; h2c on a plaintext port
	default:
		return fmt.Errorf("IM_PROTOCOL must be connect or grpc, not %q", p)
	}
	// Every call carries a UserSig; app servers mint them with any TLSSigAPIv2 library.
	as := func(sigVar string) *http.Client {
		return &http.Client{Transport: bearer{
			sig:  os.Getenv(sigVar),
			next: &http.Transport{Protocols: &protocols},
		}}
	}
	// A hang guard, not a pace: the scenario takes milliseconds.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	if os.Getenv("IM_ADMIN_SIG") != "" {
		accounts := imv1connect.NewAccountServiceClient(as("IM_ADMIN_SIG"), baseURL, protocol...)
		if _, err := accounts.ImportAccounts(ctx, connect.NewRequest(&imv1.ImportAccountsRequest{
			Accounts: []*imv1.Account{{UserId: alice}, {UserId: bob}},
		})); err != nil {
			return fmt.Errorf("import accounts: %w", err)
		}
	}

	streamCtx, closeStream := context.WithCancel(ctx)
	defer closeStream()
	events := imv1connect.NewEventServiceClient(as("IM_BOB_SIG"), baseURL, protocol...)
	stream, err := events.Subscribe(streamCtx, connect.NewRequest(&imv1.SubscribeRequest{DeviceId: "bob-go"}))
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	defer stream.Close()
	// Send only once the stream is live: "ready" comes first.
	if !stream.Receive() || stream.Msg().GetReady() == nil {
		return fmt.Errorf("stream did not start with ready: %v", stream.Err())
	}

	messages := imv1connect.NewMessageServiceClient(as("IM_ALICE_SIG"), baseURL, protocol...)
	sent, err := messages.SendMessage(ctx, connect.NewRequest(&imv1.SendMessageRequest{
		ToUserId: bob,
		Body: []*imv1.MessageElement{{Element: &imv1.MessageElement_Text{
			Text: &imv1.TextElement{Text: "hello bob, from Go"},
		}}},
		ClientMessageId: fmt.Sprintf("go-%d", time.Now().UnixNano()),
	}))
	if err != nil {
		return fmt.Errorf("send: %w", err)
	}
	fmt.Printf("alice sent seq %d in %s\n", sent.Msg.Seq, sent.Msg.ConversationId)

	var received *imv1.Message
	for received == nil && stream.Receive() {
		if m := stream.Msg().GetMessage(); m != nil && m.Seq == sent.Msg.Seq {
			received = m
		}
	}
	if received == nil {
		return fmt.Errorf("stream ended before the message arrived: %v", stream.Err())
	}
	fmt.Printf("bob received seq %d: %s\n", received.Seq, received.Body[0].GetText().GetText())
	closeStream()

	bobMessages := imv1connect.NewMessageServiceClient(as("IM_BOB_SIG"), baseURL, protocol...)
	synced, err := bobMessages.SyncMessages(ctx, connect.NewRequest(&imv1.SyncMessagesRequest{
		PeerUserId: alice,
	}))
	if err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	fmt.Printf("bob synced %d message(s), last seq %d\n", len(synced.Msg.Messages), synced.Msg.LastSeq)

	read, err := bobMessages.MarkRead(ctx, connect.NewRequest(&imv1.MarkReadRequest{PeerUserId: alice}))
	if err != nil {
		var cerr *connect.Error
		if errors.As(err, &cerr) {
			return fmt.Errorf("mark read: %s: %s", cerr.Code(), cerr.Message())
		}
		return fmt.Errorf("mark read: %w", err)
	}
	fmt.Printf("bob read up to seq %d; unread now %d\n", read.Msg.ReadSeq, read.Msg.UnreadCount)
	return nil
}

// bearer adds the caller's UserSig to every request.
type bearer struct {
	sig  string
	next http.RoundTripper
}

func (b bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+b.sig)
	return b.next.RoundTrip(req)
}

func env(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

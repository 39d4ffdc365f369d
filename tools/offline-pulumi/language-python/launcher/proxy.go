// The relay: every RPC the launcher does not answer itself goes to the v3.79.0
// host unchanged (its messages are passed as raw bytes, so fields either side
// does not know survive, and the host's status codes come back as they are).
package main

import (
	"errors"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// maxMessageSize is the largest message relayed (the CLI's own limit).
const maxMessageSize = 400 * 1024 * 1024

// frame is one message, undecoded.
type frame struct{ payload []byte }

// codec passes frames through as they are and handles every other message (the
// typed RunPlugin ones) with the regular protobuf codec.
type codec struct{ proto encoding.CodecV2 }

func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	if f, ok := v.(*frame); ok {
		return mem.BufferSlice{mem.SliceBuffer(f.payload)}, nil
	}
	return c.proto.Marshal(v)
}

func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	if f, ok := v.(*frame); ok {
		f.payload = data.Materialize()
		return nil
	}
	return c.proto.Unmarshal(data, v)
}

func (codec) Name() string { return "proto" }

func newCodec() codec { return codec{proto: encoding.GetCodecV2("proto")} }

// newServer is the launcher's gRPC server: RunPlugin and the unary methods given
// answered here, every other method relayed to the host behind conn.
func newServer(conn *grpc.ClientConn, answered ...grpc.MethodDesc) *grpc.Server {
	c := newCodec()
	relay := func(_ any, ss grpc.ServerStream) error { return forward(conn, c, ss) }
	srv := grpc.NewServer(
		grpc.ForceServerCodecV2(c),
		grpc.UnknownServiceHandler(relay),
		grpc.MaxRecvMsgSize(maxMessageSize),
		grpc.MaxSendMsgSize(maxMessageSize),
	)
	// Only these are registered; the methods not listed here reach `relay`.
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: "pulumirpc.LanguageRuntime",
		HandlerType: (*any)(nil),
		Methods:     answered,
		Streams: []grpc.StreamDesc{{
			StreamName:    "RunPlugin",
			ServerStreams: true,
			Handler: func(_ any, stream grpc.ServerStream) error {
				req := new(pulumirpc.RunPluginRequest)
				if err := stream.RecvMsg(req); err != nil {
					return err
				}
				return runPlugin(req, &grpc.GenericServerStream[pulumirpc.RunPluginRequest,
					pulumirpc.RunPluginResponse]{ServerStream: stream})
			},
		}},
		Metadata: "pulumi/language.proto",
	}, struct{}{})
	return srv
}

// forward relays one call (unary or streaming) from ss to the host.
func forward(conn *grpc.ClientConn, c codec, ss grpc.ServerStream) error {
	method, ok := grpc.MethodFromServerStream(ss)
	if !ok {
		return errors.New("relay: no method name")
	}
	ctx := ss.Context()
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		ctx = metadata.NewOutgoingContext(ctx, md.Copy())
	}
	cs, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true},
		method, grpc.ForceCodecV2(c))
	if err != nil {
		return err
	}

	// CLI -> host, until the CLI half-closes.
	sendErr := make(chan error, 1)
	go func() {
		for {
			f := &frame{}
			if err := ss.RecvMsg(f); err != nil {
				if errors.Is(err, io.EOF) {
					sendErr <- cs.CloseSend()
				} else {
					sendErr <- err
				}
				return
			}
			if err := cs.SendMsg(f); err != nil {
				sendErr <- err
				return
			}
		}
	}()

	// host -> CLI, until the host ends the call; its status is ours.
	headerSent := false
	for {
		f := &frame{}
		err := cs.RecvMsg(f)
		if !headerSent {
			if md, herr := cs.Header(); herr == nil && len(md) > 0 {
				_ = ss.SendHeader(md)
			}
			headerSent = true
		}
		if err != nil {
			ss.SetTrailer(cs.Trailer())
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if err := ss.SendMsg(f); err != nil {
			return err
		}
		select {
		case err := <-sendErr:
			if err != nil {
				return err
			}
		default:
		}
	}
}

// lnnode-goclient calls the lnnode.v1 API with Go's gRPC library and the
// Go code generated from proto/lnnode/v1/lnnode.proto, so tests prove that a
// plain gRPC client (not only Connect) works against lnnode.
//
//	lnnode-goclient -addr 127.0.0.1:10019 -token-file DIR/rpc.token [-cacert DIR/tls.cert] \
//	    call   METHOD 'REQUEST-JSON'           # prints the response as JSON
//	    stream METHOD 'REQUEST-JSON' [COUNT]   # prints COUNT messages (default: all), one JSON per line
//
// Requests and responses are protobuf JSON. On an RPC error it prints
// {"code":"<gRPC code>","message":"..."} to stderr and exits 1.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	lnnodev1 "lnnode.dev/goclient/gen/lnnode/v1"
)

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(2)
}

func rpcFailed(err error) {
	s, _ := status.FromError(err)
	out, _ := json.Marshal(map[string]string{"code": s.Code().String(), "message": s.Message()})
	fmt.Fprintln(os.Stderr, string(out))
	os.Exit(1)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:10019", "host:port of the lnnode.v1 API")
	tokenFile := flag.String("token-file", "", "the node's rpc.token")
	caCert := flag.String("cacert", "", "the node's tls.cert (TLS); plain HTTP/2 when empty")
	timeout := flag.Duration("timeout", 2*time.Minute, "deadline of the call")
	flag.Parse()
	args := flag.Args()
	if len(args) < 3 || (args[0] != "call" && args[0] != "stream") {
		fail("usage: lnnode-goclient [flags] call|stream METHOD 'REQUEST-JSON' [COUNT]")
	}

	service := lnnodev1.File_lnnode_v1_lnnode_proto.Services().ByName("LightningNodeService")
	method := service.Methods().ByName(protoreflect.Name(args[1]))
	if method == nil {
		fail("no method %s in %s", args[1], service.FullName())
	}
	if method.IsStreamingServer() != (args[0] == "stream") {
		fail("%s is %s; use the other command", args[1], map[bool]string{true: "a stream", false: "unary"}[method.IsStreamingServer()])
	}
	// The generated Go types (registered by importing the package), not dynamic messages.
	newMessage := func(d protoreflect.MessageDescriptor) proto.Message {
		t, err := protoregistry.GlobalTypes.FindMessageByName(d.FullName())
		if err != nil {
			fail("%v", err)
		}
		return t.New().Interface()
	}
	req := newMessage(method.Input())
	if err := protojson.Unmarshal([]byte(args[2]), req); err != nil {
		fail("request is not %s JSON: %v", method.Input().FullName(), err)
	}

	creds := insecure.NewCredentials()
	if *caCert != "" {
		pem, err := os.ReadFile(*caCert)
		if err != nil {
			fail("%v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			fail("no certificate in %s", *caCert)
		}
		creds = credentials.NewTLS(&tls.Config{RootCAs: pool})
	}
	conn, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		fail("%v", err)
	}
	defer conn.Close()

	token := ""
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			fail("%v", err)
		}
		token = strings.TrimSpace(string(b))
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	}
	path := fmt.Sprintf("/%s/%s", service.FullName(), method.Name())
	print := func(m proto.Message) {
		out, err := protojson.Marshal(m)
		if err != nil {
			fail("%v", err)
		}
		fmt.Println(string(out))
	}

	if args[0] == "call" {
		resp := newMessage(method.Output())
		if err := conn.Invoke(ctx, path, req, resp); err != nil {
			rpcFailed(err)
		}
		print(resp)
		return
	}

	count := -1
	if len(args) > 3 {
		if count, err = strconv.Atoi(args[3]); err != nil || count < 1 {
			fail("COUNT must be a positive number")
		}
	}
	stream, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, path)
	if err != nil {
		rpcFailed(err)
	}
	if err := stream.SendMsg(req); err != nil {
		rpcFailed(err)
	}
	if err := stream.CloseSend(); err != nil {
		rpcFailed(err)
	}
	for n := 0; count < 0 || n < count; n++ {
		m := newMessage(method.Output())
		if err := stream.RecvMsg(m); err == io.EOF {
			return
		} else if err != nil {
			rpcFailed(err)
		}
		print(m)
	}
}

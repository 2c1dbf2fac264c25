package rtmp

import (
	"bytes"
	"io"
	"testing"

	"github.com/sirupsen/logrus"
	gortmp "github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/message"
)

// testClient publishes with go-rtmp's client, as a stand-in for an
// encoder that sends exactly the tags a test wants.
type testClient struct {
	cc     *gortmp.ClientConn
	stream *gortmp.Stream
}

// Chunk stream ids the client sends on, as ffmpeg does.
const (
	csidCommand = 3
	csidAudio   = 4
	csidData    = 5
	csidVideo   = 6
)

func quietLogrus() *logrus.Logger {
	l := logrus.New()
	l.Out = io.Discard
	return l
}

// dial connects to app and creates a stream, without publishing.
func dial(t *testing.T, addr, app string) *testClient {
	t.Helper()
	cc, err := gortmp.Dial("rtmp", addr, &gortmp.ConnConfig{Logger: quietLogrus()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	if err := cc.Connect(&message.NetConnectionConnect{Command: message.NetConnectionConnectCommand{
		App: app, Type: "nonprivate", FlashVer: "FMLE/3.0 (compatible; liveorigin test)", TCURL: "rtmp://" + addr + "/" + app,
	}}); err != nil {
		t.Fatal(err)
	}
	// chunkSize 0 keeps 128: go-rtmp's client logs a change to the global
	// logrus logger.
	stream, err := cc.CreateStream(nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	return &testClient{cc: cc, stream: stream}
}

// publish dials and publishes name on app.
func publish(t *testing.T, addr, app, name string) *testClient {
	t.Helper()
	c := dial(t, addr, app)
	if err := c.stream.Publish(&message.NetStreamPublish{PublishingName: name, PublishingType: "live"}); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *testClient) video(ts uint32, body []byte) error {
	return c.stream.Write(csidVideo, ts, &message.VideoMessage{Payload: bytes.NewReader(body)})
}

func (c *testClient) audio(ts uint32, body []byte) error {
	return c.stream.Write(csidAudio, ts, &message.AudioMessage{Payload: bytes.NewReader(body)})
}

// metadata sends @setDataFrame with an FLV script tag body ("onMetaData"
// and its properties).
func (c *testClient) metadata(body []byte) error {
	return c.stream.Write(csidData, 0, &message.DataMessage{
		Name: "@setDataFrame", Encoding: message.EncodingTypeAMF0, Body: bytes.NewReader(body),
	})
}

// command sends a raw AMF0 command message with an arbitrary body.
func (c *testClient) command(name string, body []byte) error {
	return c.stream.Write(csidCommand, 0, &message.CommandMessage{
		CommandName: name, Encoding: message.EncodingTypeAMF0, Body: bytes.NewReader(body),
	})
}

// unpublish says goodbye with closeStream on the publishing stream.
// (go-rtmp's ClientConn.DeleteStream, on the control stream as ffmpeg
// does it, races with the client's own read loop; TestFFmpegPublish covers
// that path.)
func (c *testClient) unpublish() error {
	return c.command("closeStream", []byte{amfNull})
}

// sendFLV sends every tag of an FLV file.
func (c *testClient) sendFLV(t *testing.T, tags []flvTag) {
	t.Helper()
	for _, tag := range tags {
		var err error
		switch tag.typ {
		case 8:
			err = c.audio(tag.ts, tag.body)
		case 9:
			err = c.video(tag.ts, tag.body)
		case 18:
			err = c.metadata(tag.body)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

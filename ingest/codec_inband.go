package ingest

import (
	"github.com/Eyevinn/mp4ff/avc"
	"github.com/Eyevinn/mp4ff/hevc"
)

// In-band parameter sets. MPEG-TS and RTP may repeat the H.264/H.265
// parameter sets inside the stream, in front of keyframes, while CMAF keeps
// them in the sample entry ('avc1', 'hvc1') only. An adapter therefore takes
// them out of the samples and, when they differ from its Track's, builds a
// new Track (H264Track, H265Track) and calls Session.Start again: a new
// period.

// SplitParameterSets separates the parameter sets of one H.264 or H.265
// access unit (NAL units without start codes or length prefixes, as MPEG-TS
// and RTP depacketizers return them) from its other NAL units. H.264 has no
// VPS. Empty NAL units are dropped; for other codecs every NAL unit is in
// rest. The results alias nalus.
func SplitParameterSets(codec Codec, nalus [][]byte) (vps, sps, pps, rest [][]byte) {
	for _, n := range nalus {
		if len(n) == 0 {
			continue
		}
		switch codec {
		case H264:
			switch avc.GetNaluType(n[0]) {
			case avc.NALU_SPS:
				sps = append(sps, n)
				continue
			case avc.NALU_PPS:
				pps = append(pps, n)
				continue
			}
		case H265:
			switch hevc.GetNaluType(n[0]) {
			case hevc.NALU_VPS:
				vps = append(vps, n)
				continue
			case hevc.NALU_SPS:
				sps = append(sps, n)
				continue
			case hevc.NALU_PPS:
				pps = append(pps, n)
				continue
			}
		}
		rest = append(rest, n)
	}
	return vps, sps, pps, rest
}

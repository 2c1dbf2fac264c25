package purge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/liveorigin/liveorigin/ingest"
)

// cloudfrontPathsPerCall: one invalidation batch holds at most 3,000 paths
// (CloudFront Developer Guide, "Concurrent invalidation request maximum").
const cloudfrontPathsPerCall = 3000

// cloudfront creates invalidations with the AWS SDK (CreateInvalidation).
// Credentials come from the SDK's default chain (environment, shared files,
// web identity, container or instance role), resolved at the first purge.
type cloudFront struct {
	*sender
	api           *cloudfront.Client
	distribution  string
	tags          bool
	manifestPaths []string
}

// CloudFront modes.
const (
	CloudFrontPaths = "paths"
	CloudFrontTags  = "tags"
)

func newCloudFront(s *sender, c Config, p *problems) Backend {
	b := &cloudFront{sender: s, distribution: c.DistributionID, manifestPaths: c.ManifestPaths}
	switch c.Mode {
	case "", CloudFrontPaths:
	case CloudFrontTags:
		b.tags = true
		if len(c.ManifestPaths) > 0 {
			p.addf("manifest-paths is for mode paths; mode tags invalidates #%s", ManifestKey("NAME"))
		}
	default:
		p.addf("mode %q: use paths (wildcard paths) or tags (cache tags: the distribution needs a CacheTagConfig with header Cache-Tag)", c.Mode)
	}
	if c.DistributionID == "" {
		p.addf("distribution-id is required")
	} else if !validName(c.DistributionID) {
		p.addf("distribution-id %q is not a CloudFront distribution ID", c.DistributionID)
	}
	if len(b.manifestPaths) == 0 {
		// CloudFront takes '*' only as the last character of a path
		// (Developer Guide, "Invalidation paths"), so "/live/NAME/*.m3u8"
		// is refused; the stream's prefix invalidates the manifests with
		// the (immutable) segments, as one path.
		b.manifestPaths = []string{"/" + ingest.App + "/{stream}/*"}
	}
	for _, mp := range b.manifestPaths {
		if !strings.HasPrefix(mp, "/") || !strings.Contains(mp, "{stream}") {
			p.addf("manifest-paths: %q must start with / and contain {stream}", mp)
		} else if i := strings.IndexByte(mp, '*'); i >= 0 && i != len(mp)-1 {
			p.addf("manifest-paths: %q: CloudFront takes * only as the last character", mp)
		}
	}
	region := c.Region
	if region == "" {
		region = "us-east-1"
	}
	if c.Endpoint != "" {
		checkBaseURL("endpoint", c.Endpoint, p)
	}
	if len(p.errs) > 0 {
		return b
	}
	// LoadDefaultConfig reads the environment (AWS_*) and shared config
	// files; credentials are fetched lazily. The SDK's own HTTP client
	// honours AWS_CA_BUNDLE. The queue retries, not the SDK.
	cfg, err := awsconfig.LoadDefaultConfig(context.Background(),
		awsconfig.WithRegion(region),
		awsconfig.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }),
	)
	if err != nil {
		p.addf("AWS configuration: %v", err)
		return b
	}
	b.api = cloudfront.NewFromConfig(cfg, func(o *cloudfront.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
		}
	})
	return b
}

// Paths are the invalidation paths of r.
func (b *cloudFront) paths(r Request) []string {
	switch {
	case r.Scope == ScopePaths:
		return r.Paths
	case b.tags:
		// Invalidation by cache tag: the item is "#" and the tag, which
		// CloudFront read from the origin's Cache-Tag header (Developer
		// Guide, "What you need to know when invalidating tags").
		keys := r.Keys()
		for i, k := range keys {
			keys[i] = "#" + k
		}
		return keys
	case r.Scope == ScopeStream:
		return []string{r.Prefix() + "*"}
	}
	out := make([]string, len(b.manifestPaths))
	for i, mp := range b.manifestPaths {
		out[i] = strings.ReplaceAll(mp, "{stream}", r.Stream)
	}
	return out
}

func (b *cloudFront) Purge(ctx context.Context, r Request) error {
	ctx, cancel := b.attempt(ctx)
	defer cancel()
	// CallerReference: the same for every attempt of one request, so a
	// retry of an invalidation that reached CloudFront returns the first
	// one instead of making a second (API reference, InvalidationBatch).
	ref := r.id
	if ref == "" {
		ref = newID()
	}
	for i, batch := range batches(b.paths(r), cloudfrontPathsPerCall) {
		_, err := b.api.CreateInvalidation(ctx, &cloudfront.CreateInvalidationInput{
			DistributionId: aws.String(b.distribution),
			InvalidationBatch: &types.InvalidationBatch{
				CallerReference: aws.String(fmt.Sprintf("liveorigin-%s-%d", ref, i)),
				Paths:           &types.Paths{Quantity: aws.Int32(int32(len(batch))), Items: batch},
			},
		})
		if err != nil {
			return b.secrets.err(classifyAWS(err))
		}
	}
	return nil
}

// classifyAWS marks the errors a retry cannot fix. TooManyInvalidationsInProgress
// and throttling are 400s in CloudFront's API but pass with time.
func classifyAWS(err error) error {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "TooManyInvalidationsInProgress", "Throttling", "ThrottlingException", "RequestLimitExceeded",
			"ServiceUnavailable", "InternalError", "RequestTimeout", "RequestTimeoutException":
			return err
		}
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		code := re.HTTPStatusCode()
		if code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests {
			return Permanent(err)
		}
	}
	return err
}

// newID is 16 random hex digits.
func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

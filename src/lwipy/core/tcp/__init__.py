"""TCP (RFC 9293) with lwIP's features: pcbs, input, output, congestion control."""

"""Media tools: ffmpeg decoding and frame extraction, yt-dlp downloads, motion-token files."""

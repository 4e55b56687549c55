"""Hardware model: compute units, scale units, memories, weight compression."""

/* codec/container_internal.h — constants of the .epr layout shared by the
 * writer (container_write.c) and the reader (container_read.c).  The
 * byte-by-byte description is docs/format.md; keep the two in step. */
#ifndef EPR_CODEC_CONTAINER_INTERNAL_H
#define EPR_CODEC_CONTAINER_INTERNAL_H

#define EPR_MAGIC "EPR1"
#define EPR_HEADER_BYTES 16 /* magic 4, version 2, flags 2, n_groups 4, n_tensors 4 */
#define EPR_CRC_BYTES 4

/* How a conv-affine transform is stored (byte 1 of a group). */
enum { EPR_STORE_NONE = 0, EPR_STORE_DFT = 1, EPR_STORE_EXPLICIT = 2 };

#define EPR_MAX_NAME 4096
#define EPR_MAX_ELEMENTS ((int64_t)1 << 40)
#define EPR_MAX_DFT_SIDE 256

/* Smallest possible group and tensor records, to bound counts by the bytes
 * left before allocating. */
#define EPR_MIN_GROUP_BYTES 8   /* 4 kind bytes + u32 ell */
#define EPR_MIN_COLUMN_BYTES 4  /* kind, p, varint, varint */
#define EPR_MIN_TENSOR_BYTES 15 /* u16 name len, u8 ndim, i32 group, u64 length */

#endif

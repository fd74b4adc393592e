//go:build amd64 && !purego

#include "textflag.h"

// func decryptBlocksAsm(rounds int, dk *byte, buf *byte, n int)
TEXT ·decryptBlocksAsm(SB), NOSPLIT, $0-32
	MOVQ rounds+0(FP), CX
	MOVQ dk+8(FP), AX
	MOVQ buf+16(FP), DI
	MOVQ n+24(FP), BX

loop8:
	CMPQ BX, $8
	JB   loop1
	MOVOU 0(DI), X1
	MOVOU 16(DI), X2
	MOVOU 32(DI), X3
	MOVOU 48(DI), X4
	MOVOU 64(DI), X5
	MOVOU 80(DI), X6
	MOVOU 96(DI), X7
	MOVOU 112(DI), X8
	MOVOU (AX), X0
	PXOR X0, X1
	PXOR X0, X2
	PXOR X0, X3
	PXOR X0, X4
	PXOR X0, X5
	PXOR X0, X6
	PXOR X0, X7
	PXOR X0, X8
	LEAQ 16(AX), R8
	LEAQ -1(CX), R9

rounds8:
	MOVOU (R8), X0
	AESDEC X0, X1
	AESDEC X0, X2
	AESDEC X0, X3
	AESDEC X0, X4
	AESDEC X0, X5
	AESDEC X0, X6
	AESDEC X0, X7
	AESDEC X0, X8
	ADDQ $16, R8
	DECQ R9
	JNZ  rounds8
	MOVOU (R8), X0
	AESDECLAST X0, X1
	AESDECLAST X0, X2
	AESDECLAST X0, X3
	AESDECLAST X0, X4
	AESDECLAST X0, X5
	AESDECLAST X0, X6
	AESDECLAST X0, X7
	AESDECLAST X0, X8
	MOVOU X1, 0(DI)
	MOVOU X2, 16(DI)
	MOVOU X3, 32(DI)
	MOVOU X4, 48(DI)
	MOVOU X5, 64(DI)
	MOVOU X6, 80(DI)
	MOVOU X7, 96(DI)
	MOVOU X8, 112(DI)
	ADDQ $128, DI
	SUBQ $8, BX
	JMP  loop8

loop1:
	TESTQ BX, BX
	JZ    done
	MOVOU (DI), X1
	MOVOU (AX), X0
	PXOR  X0, X1
	LEAQ  16(AX), R8
	LEAQ  -1(CX), R9

rounds1:
	MOVOU (R8), X0
	AESDEC X0, X1
	ADDQ $16, R8
	DECQ R9
	JNZ  rounds1
	MOVOU (R8), X0
	AESDECLAST X0, X1
	MOVOU X1, (DI)
	ADDQ $16, DI
	DECQ BX
	JMP  loop1

done:
	RET

// The XTS multiplier's reduction: 0x87 into the low qword when the top
// bit falls out, 1 into the high qword when the low qword's top bit
// carries over (the kernel's GF128MUL_MASK).
DATA xtsMask<>+0x00(SB)/8, $0x0000000000000087
DATA xtsMask<>+0x08(SB)/8, $0x0000000000000001
GLOBL xtsMask<>(SB), (NOPTR+RODATA), $16

// XTS_IN: block off of the sector, XORed with the tweak T (X9) into reg;
// T saved at off(SP) for the way out, then T = T times x in GF(2^128).
#define XTS_IN(off, reg) \
	MOVOU X9, off(SP); \
	MOVOU off(DI), reg; \
	PXOR X9, reg; \
	PSHUFD $0x13, X9, X10; \
	PADDQ X9, X9; \
	PSRAL $31, X10; \
	PAND X11, X10; \
	PXOR X10, X9

// XTS_OUT: reg XORed with its saved tweak, stored back at off.
#define XTS_OUT(off, reg) \
	MOVOU off(SP), X0; \
	PXOR X0, reg; \
	MOVOU reg, off(DI)

// func xtsDecryptAsm(rounds int, dk *byte, buf *byte, n int, tweak *byte)
// decrypts one XTS sector of n 16-byte blocks at buf in place (n a
// multiple of 8), its first tweak (already encrypted) at tweak: each
// block D(C xor T) xor T, eight at a time, the tweaks kept in the frame.
TEXT ·xtsDecryptAsm(SB), NOSPLIT, $128-40
	MOVQ rounds+0(FP), CX
	MOVQ dk+8(FP), AX
	MOVQ buf+16(FP), DI
	MOVQ n+24(FP), BX
	MOVQ tweak+32(FP), SI
	MOVOU (SI), X9
	MOVOU xtsMask<>(SB), X11

xts8:
	CMPQ BX, $8
	JB   xtsdone
	XTS_IN(0, X1)
	XTS_IN(16, X2)
	XTS_IN(32, X3)
	XTS_IN(48, X4)
	XTS_IN(64, X5)
	XTS_IN(80, X6)
	XTS_IN(96, X7)
	XTS_IN(112, X8)
	MOVOU (AX), X0
	PXOR X0, X1
	PXOR X0, X2
	PXOR X0, X3
	PXOR X0, X4
	PXOR X0, X5
	PXOR X0, X6
	PXOR X0, X7
	PXOR X0, X8
	LEAQ 16(AX), R8
	LEAQ -1(CX), R9

xtsrounds:
	MOVOU (R8), X0
	AESDEC X0, X1
	AESDEC X0, X2
	AESDEC X0, X3
	AESDEC X0, X4
	AESDEC X0, X5
	AESDEC X0, X6
	AESDEC X0, X7
	AESDEC X0, X8
	ADDQ $16, R8
	DECQ R9
	JNZ  xtsrounds
	MOVOU (R8), X0
	AESDECLAST X0, X1
	AESDECLAST X0, X2
	AESDECLAST X0, X3
	AESDECLAST X0, X4
	AESDECLAST X0, X5
	AESDECLAST X0, X6
	AESDECLAST X0, X7
	AESDECLAST X0, X8
	XTS_OUT(0, X1)
	XTS_OUT(16, X2)
	XTS_OUT(32, X3)
	XTS_OUT(48, X4)
	XTS_OUT(64, X5)
	XTS_OUT(80, X6)
	XTS_OUT(96, X7)
	XTS_OUT(112, X8)
	ADDQ $128, DI
	SUBQ $8, BX
	JMP  xts8

xtsdone:
	RET

// func encryptBlocksAsm(rounds int, ek *byte, buf *byte, n int)
// encrypts n 16-byte blocks at buf in place (n a multiple of 8) with the
// round keys ek (AESENC's order): the sectors' first tweaks, eight at a
// time.
TEXT ·encryptBlocksAsm(SB), NOSPLIT, $0-32
	MOVQ rounds+0(FP), CX
	MOVQ ek+8(FP), AX
	MOVQ buf+16(FP), DI
	MOVQ n+24(FP), BX

enc8:
	CMPQ BX, $8
	JB   encdone
	MOVOU 0(DI), X1
	MOVOU 16(DI), X2
	MOVOU 32(DI), X3
	MOVOU 48(DI), X4
	MOVOU 64(DI), X5
	MOVOU 80(DI), X6
	MOVOU 96(DI), X7
	MOVOU 112(DI), X8
	MOVOU (AX), X0
	PXOR X0, X1
	PXOR X0, X2
	PXOR X0, X3
	PXOR X0, X4
	PXOR X0, X5
	PXOR X0, X6
	PXOR X0, X7
	PXOR X0, X8
	LEAQ 16(AX), R8
	LEAQ -1(CX), R9

encrounds:
	MOVOU (R8), X0
	AESENC X0, X1
	AESENC X0, X2
	AESENC X0, X3
	AESENC X0, X4
	AESENC X0, X5
	AESENC X0, X6
	AESENC X0, X7
	AESENC X0, X8
	ADDQ $16, R8
	DECQ R9
	JNZ  encrounds
	MOVOU (R8), X0
	AESENCLAST X0, X1
	AESENCLAST X0, X2
	AESENCLAST X0, X3
	AESENCLAST X0, X4
	AESENCLAST X0, X5
	AESENCLAST X0, X6
	AESENCLAST X0, X7
	AESENCLAST X0, X8
	MOVOU X1, 0(DI)
	MOVOU X2, 16(DI)
	MOVOU X3, 32(DI)
	MOVOU X4, 48(DI)
	MOVOU X5, 64(DI)
	MOVOU X6, 80(DI)
	MOVOU X7, 96(DI)
	MOVOU X8, 112(DI)
	ADDQ $128, DI
	SUBQ $8, BX
	JMP  enc8

encdone:
	RET

// The per-lane shifts that make four copies of a tweak T into T, Tx,
// Tx^2, Tx^3 (XTS_MULV): left by 0-3 bits, right by 64 minus that (a
// count of 64 gives 0).
DATA xtsShl<>+0x00(SB)/8, $0
DATA xtsShl<>+0x08(SB)/8, $0
DATA xtsShl<>+0x10(SB)/8, $1
DATA xtsShl<>+0x18(SB)/8, $1
DATA xtsShl<>+0x20(SB)/8, $2
DATA xtsShl<>+0x28(SB)/8, $2
DATA xtsShl<>+0x30(SB)/8, $3
DATA xtsShl<>+0x38(SB)/8, $3
GLOBL xtsShl<>(SB), (NOPTR+RODATA), $64
DATA xtsShr<>+0x00(SB)/8, $64
DATA xtsShr<>+0x08(SB)/8, $64
DATA xtsShr<>+0x10(SB)/8, $63
DATA xtsShr<>+0x18(SB)/8, $63
DATA xtsShr<>+0x20(SB)/8, $62
DATA xtsShr<>+0x28(SB)/8, $62
DATA xtsShr<>+0x30(SB)/8, $61
DATA xtsShr<>+0x38(SB)/8, $61
GLOBL xtsShr<>(SB), (NOPTR+RODATA), $64

// XTS_MULV: each lane of reg times x^k in GF(2^128), in place, k the
// lane's count in Z20 (64-k in Z21); as XTS_NEXT32 below.
#define XTS_MULV(reg) \
	VPSRLVQ Z21, reg, Z18; \
	VPSLLVQ Z20, reg, reg; \
	VPCLMULQDQ $0x01, Z17, Z18, Z19; \
	VPSLLDQ $8, Z18, Z18; \
	VPTERNLOGQ $0x96, Z19, Z18, reg

// XTS_MULK: dst = each lane of src times x^k (k < 64; r = 64-k).
#define XTS_MULK(k, r, src, dst) \
	VPSRLQ r, src, Z18; \
	VPSLLQ k, src, dst; \
	VPCLMULQDQ $0x01, Z17, Z18, Z19; \
	VPSLLDQ $8, Z18, Z18; \
	VPTERNLOGQ $0x96, Z19, Z18, dst

// XTS_NEXT32: each of reg's four tweaks times x^32, in place: the
// qwords shifted left by 32, the low qword's top 32 bits carried into
// the high qword (VPSLLDQ), the high qword's top 32 bits reduced by a
// carry-less multiply with 0x87 (Z17's low qwords). Z18, Z19 scratch.
#define XTS_NEXT32(reg) \
	VPSRLQ $32, reg, Z18; \
	VPSLLQ $32, reg, reg; \
	VPCLMULQDQ $0x01, Z17, Z18, Z19; \
	VPSLLDQ $8, Z18, Z18; \
	VPTERNLOGQ $0x96, Z19, Z18, reg

// VAES_ROUND: op (VAESDEC, VAESDECLAST, VPXORQ) of the round key in Z0
// into each of Z1-Z8.
#define VAES_ROUND(op) \
	op Z0, Z1, Z1; \
	op Z0, Z2, Z2; \
	op Z0, Z3, Z3; \
	op Z0, Z4, Z4; \
	op Z0, Z5, Z5; \
	op Z0, Z6, Z6; \
	op Z0, Z7, Z7; \
	op Z0, Z8, Z8

#define VAES_TWEAKS \
	VPXORQ Z9, Z1, Z1; \
	VPXORQ Z10, Z2, Z2; \
	VPXORQ Z11, Z3, Z3; \
	VPXORQ Z12, Z4, Z4; \
	VPXORQ Z13, Z5, Z5; \
	VPXORQ Z14, Z6, Z6; \
	VPXORQ Z15, Z7, Z7; \
	VPXORQ Z16, Z8, Z8

// func xtsDecryptVAES(rounds int, dk *byte, buf *byte, n int, tweaks *byte, nsec int)
// is xtsDecryptAsm on VAES and AVX-512 for nsec consecutive sectors of n
// blocks each (n a multiple of 32), their first tweaks (encrypted) 16
// bytes apart at tweaks: 32 blocks at a time, four to a ZMM register,
// their tweaks in Z9-Z16 (block j's tweak in lane j%4 of Z9+j/4), each
// moved on by x^32 per step.
TEXT ·xtsDecryptVAES(SB), NOSPLIT, $0-48
	MOVQ rounds+0(FP), CX
	MOVQ dk+8(FP), AX
	MOVQ buf+16(FP), DI
	MOVQ tweaks+32(FP), SI
	MOVQ nsec+40(FP), DX
	VBROADCASTI32X4 xtsMask<>(SB), Z17
	VMOVDQU64 xtsShl<>(SB), Z20
	VMOVDQU64 xtsShr<>(SB), Z21

vaessector:
	TESTQ DX, DX
	JZ    vaesdone
	MOVQ  n+24(FP), BX
	VBROADCASTI32X4 (SI), Z9
	XTS_MULV(Z9)
	XTS_MULK($4, $60, Z9, Z10)
	XTS_MULK($8, $56, Z9, Z11)
	XTS_MULK($12, $52, Z9, Z12)
	XTS_MULK($16, $48, Z9, Z13)
	XTS_MULK($20, $44, Z9, Z14)
	XTS_MULK($24, $40, Z9, Z15)
	XTS_MULK($28, $36, Z9, Z16)

vaes32:
	CMPQ BX, $32
	JB   vaesnext
	VMOVDQU64 0(DI), Z1
	VMOVDQU64 64(DI), Z2
	VMOVDQU64 128(DI), Z3
	VMOVDQU64 192(DI), Z4
	VMOVDQU64 256(DI), Z5
	VMOVDQU64 320(DI), Z6
	VMOVDQU64 384(DI), Z7
	VMOVDQU64 448(DI), Z8
	VAES_TWEAKS
	VBROADCASTI32X4 (AX), Z0
	VAES_ROUND(VPXORQ)
	LEAQ 16(AX), R8
	LEAQ -1(CX), R9

vaesrounds:
	VBROADCASTI32X4 (R8), Z0
	VAES_ROUND(VAESDEC)
	ADDQ $16, R8
	DECQ R9
	JNZ  vaesrounds
	VBROADCASTI32X4 (R8), Z0
	VAES_ROUND(VAESDECLAST)
	VAES_TWEAKS
	VMOVDQU64 Z1, 0(DI)
	VMOVDQU64 Z2, 64(DI)
	VMOVDQU64 Z3, 128(DI)
	VMOVDQU64 Z4, 192(DI)
	VMOVDQU64 Z5, 256(DI)
	VMOVDQU64 Z6, 320(DI)
	VMOVDQU64 Z7, 384(DI)
	VMOVDQU64 Z8, 448(DI)
	ADDQ $512, DI
	SUBQ $32, BX
	CMPQ BX, $32
	JB   vaesnext
	XTS_NEXT32(Z9)
	XTS_NEXT32(Z10)
	XTS_NEXT32(Z11)
	XTS_NEXT32(Z12)
	XTS_NEXT32(Z13)
	XTS_NEXT32(Z14)
	XTS_NEXT32(Z15)
	XTS_NEXT32(Z16)
	JMP  vaes32

vaesnext:
	ADDQ $16, SI
	DECQ DX
	JMP  vaessector

vaesdone:
	VZEROUPPER
	RET

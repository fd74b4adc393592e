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

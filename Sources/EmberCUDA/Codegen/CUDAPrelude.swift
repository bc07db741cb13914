import EmberIR

/// The CUDA C++ every generated kernel starts with. NVRTC runs without the CUDA headers, so the
/// f16 and bf16 conversions are written here: f16 through the `cvt` instruction, bf16 by bits
/// (rounding to nearest even). Kernels compute in f32 and store in the tensor's dtype.
enum CUDAPrelude {
    static let source = """
        #define EMBER_INF __int_as_float(0x7f800000)
        __device__ __forceinline__ float ember_h2f(unsigned short h) {
            float f; asm("{ cvt.f32.f16 %0, %1; }" : "=f"(f) : "h"(h)); return f;
        }
        __device__ __forceinline__ unsigned short ember_f2h(float f) {
            unsigned short h; asm("{ cvt.rn.f16.f32 %0, %1; }" : "=h"(h) : "f"(f)); return h;
        }
        __device__ __forceinline__ float ember_b2f(unsigned short b) { return __uint_as_float(((unsigned int)b) << 16); }
        __device__ __forceinline__ unsigned short ember_f2b(float f) {
            unsigned int u = __float_as_uint(f);
            if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;
            u += 0x7fffu + ((u >> 16) & 1u);
            return (unsigned short)(u >> 16);
        }
        __device__ __forceinline__ float ember_round_f16(float f) { return ember_h2f(ember_f2h(f)); }
        __device__ __forceinline__ float ember_round_bf16(float f) { return ember_b2f(ember_f2b(f)); }
        __device__ __forceinline__ float ember_softplus(float x) { return x > 20.0f ? x : log1pf(expf(x)); }
        __device__ __forceinline__ float ember_warp_sum(float v) {
            for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
            return v;
        }
        __device__ __forceinline__ float ember_warp_max(float v) {
            for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
            return v;
        }
        __device__ __forceinline__ float ember_warp_min(float v) {
            for (int o = 16; o > 0; o >>= 1) v = fminf(v, __shfl_xor_sync(0xffffffffu, v, o));
            return v;
        }
        // The block-wide combination of every thread's `v`, returned to all threads. `scratch` holds
        // 32 floats; the block size is a multiple of 32.
        #define EMBER_BLOCK_REDUCE(NAME, WARP, IDENTITY) \\
        __device__ __forceinline__ float NAME(float v, float *scratch) { \\
            int lane = threadIdx.x & 31, warp = threadIdx.x >> 5; \\
            v = WARP(v); \\
            __syncthreads(); \\
            if (lane == 0) scratch[warp] = v; \\
            __syncthreads(); \\
            v = lane < (int)(blockDim.x >> 5) ? scratch[lane] : (IDENTITY); \\
            return WARP(v); \\
        }
        EMBER_BLOCK_REDUCE(ember_block_sum, ember_warp_sum, 0.0f)
        EMBER_BLOCK_REDUCE(ember_block_max, ember_warp_max, -EMBER_INF)
        EMBER_BLOCK_REDUCE(ember_block_min, ember_warp_min, EMBER_INF)

        """

    /// The float dtypes generated kernels compute with (in f32).
    static let dtypes: Set<DType> = [.f32, .f16, .bf16]

    /// The dtypes elementwise kernels read and write: the float ones, and integers and bools
    /// for masks and indices.
    static let valueDTypes: Set<DType> = dtypes.union([.i64, .i32, .bool])

    /// The C type a kernel computes an element of `dtype` in: float for every float dtype.
    static func value(_ dtype: DType) -> String {
        switch dtype {
        case .i64: "long long"
        case .i32: "int"
        case .bool: "bool"
        default: "float"
        }
    }

    /// The C type of a buffer element of `dtype`.
    static func storage(_ dtype: DType) -> String {
        switch dtype {
        case .f32: "float"
        case .i64: "long long"
        case .i32: "int"
        case .bool: "unsigned char"
        default: "unsigned short"
        }
    }

    /// The unsigned C type that moves an element of `bytes` bytes (1, 2, 4, 8 or 16) bit for bit.
    static func bits(_ bytes: Int) -> String {
        switch bytes {
        case 1: "unsigned char"
        case 2: "unsigned short"
        case 4: "unsigned int"
        case 8: "unsigned long long"
        default: "uint4"
        }
    }

    /// A zero of `bits(bytes)`.
    static func zeroBits(_ bytes: Int) -> String {
        bytes == 16 ? "make_uint4(0u, 0u, 0u, 0u)" : "(\(bits(bytes)))0"
    }

    /// `expression` (a stored element) as a value of `value(dtype)`.
    static func load(_ dtype: DType, _ expression: String) -> String {
        switch dtype {
        case .f16: "ember_h2f(\(expression))"
        case .bf16: "ember_b2f(\(expression))"
        case .bool: "(\(expression) != 0)"
        default: expression
        }
    }

    /// A value `expression` of `value(dtype)` as a stored element of `dtype`.
    static func store(_ dtype: DType, _ expression: String) -> String {
        switch dtype {
        case .f16: "ember_f2h(\(expression))"
        case .bf16: "ember_f2b(\(expression))"
        case .bool: "(unsigned char)(\(expression))"
        default: expression
        }
    }

    /// A float literal in C: `0.01f`.
    static func literal(_ value: Double) -> String {
        let f = Float(value)
        if f.isNaN { return "__int_as_float(0x7fc00000)" }
        if f.isInfinite { return f > 0 ? "EMBER_INF" : "(-EMBER_INF)" }
        let text = "\(f)"
        return text.contains(".") || text.contains("e") ? "\(text)f" : "\(text).0f"
    }
}

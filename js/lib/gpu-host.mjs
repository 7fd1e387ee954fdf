// The host seam (src/backends/webgpu/gpu_seam.h) implemented once for any `GPU` object: navigator.gpu in a page
// or Worker, or Dawn's from the npm `webgpu` package in Node. The engine's requests arrive through Engine.serve()
// as (op, args) with wasm32 pointers into the shared heap.
//
// Failures are status codes with messages, never exceptions or hung promises: every request runs inside
// validation and out-of-memory error scopes; errors of submitted work are collected and reported by the next call
// that waits for the GPU; a lost device fails every later call with DEVICE_LOST.

export const OK = 0, VALIDATION = 1, OUT_OF_MEMORY = 2, DEVICE_LOST = 3, UNAVAILABLE = 4, INTERNAL = 5;

// Request codes (src/wasm/gpu_seam_wasm.cpp).
const GET_INFO = 100, BUFFER_CREATE = 101, BUFFER_WRITE = 102, BUFFER_READ = 103, BUFFER_DESTROY = 104,
  PIPELINE_CREATE = 105, PIPELINE_DESTROY = 106, PROGRAM_CREATE = 107, PROGRAM_RUN = 108, PROGRAM_DESTROY = 109,
  FINISH = 110, PROGRAM_PROFILE = 111;

// GPUBufferUsage and GPUShaderStage values, spelled out so that this file needs no globals (Node has none).
const MAP_READ = 0x1, COPY_SRC = 0x4, COPY_DST = 0x8, UNIFORM = 0x40, STORAGE = 0x80, QUERY_RESOLVE = 0x200,
  COMPUTE = 0x4;
// Dispatches timed per query set (two timestamps each; WebGPU allows 4096 queries in one set).
const PROFILE_CHUNK = 2048;

// The limits the engine may use; each is requested at the adapter's own maximum.
const LIMITS = ['maxBufferSize', 'maxStorageBufferBindingSize', 'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY', 'maxComputeWorkgroupSizeZ', 'maxComputeWorkgroupsPerDimension'];

const u64 = (args, i) => args[i] + args[i + 1] * 2 ** 32;

export class SeamError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export class GpuHost {
  // Requests an adapter and a device with the adapter's full limits. Throws SeamError(UNAVAILABLE) with a message
  // a person can act on when there is none.
  // `limits` caps requested limits below the adapter's (to try the engine under another device's limits, e.g.
  // { maxStorageBufferBindingSize: 128 * 2 ** 20 }, the WebGPU default).
  static async create(gpu, { powerPreference = 'high-performance', limits = {} } = {}) {
    if (!gpu) throw new SeamError(UNAVAILABLE, 'WebGPU is not available here (no navigator.gpu)');
    const adapter = await gpu.requestAdapter({ powerPreference });
    if (!adapter) {
      throw new SeamError(UNAVAILABLE, 'WebGPU found no GPU adapter (on Linux: is a Vulkan driver installed? ' +
        'in Chromium: --enable-unsafe-webgpu); use the cpu backend instead');
    }
    const requiredLimits = {};
    for (const name of LIMITS) {
      if (adapter.limits[name] !== undefined) requiredLimits[name] = Math.min(adapter.limits[name], limits[name] ?? Infinity);
    }
    const requiredFeatures = ['timestamp-query', 'subgroups', 'shader-f16'].filter((f) => adapter.features.has(f));
    const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
    return new GpuHost(gpu, adapter, device);
  }

  constructor(gpu, adapter, device) {
    // Hold the GPU object for as long as the device lives: in Node, Dawn's instance is freed with it, and its
    // event processing then runs on freed memory (a crash under allocation pressure, not an error).
    this.gpu = gpu;
    this.adapter = adapter;
    this.device = device;
    const i = adapter.info || {};
    this.description = [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' ') || 'unknown GPU';
    // Compute on the CPU: a fallback adapter, or a software Vulkan driver (SwiftShader is not always flagged as
    // a fallback). The kernels' automatic choice differs there (webgpu/kernel_choice.h, `software`).
    this.isSoftware = Boolean(i.isFallbackAdapter ?? adapter.isFallbackAdapter) ||
      /swiftshader|llvmpipe|lavapipe/i.test(this.description);
    this.objects = new Map();  // handle -> buffer | pipeline record | program record
    // Compiled pipelines by WGSL, entry point and layout, kept for this device's life: a model opened again (or
    // another model with the same kernels) compiles nothing new. Freeing a pipeline's handle keeps it here.
    this.pipelineCache = new Map();
    this.pipelinesCompiled = 0;  // pipelines compiled, not found in the cache: for tests and benchmarks
    this.nextHandle = 1;
    this.pendingErrors = [];  // error-scope promises of submitted programs
    this.stickyError = null;  // the first error of asynchronous work not yet reported
    this.lostMessage = null;
    this.staging = null;      // MAP_READ buffer reused for read-back
    this.bytesWritten = 0;    // host-to-GPU bytes so far (weight uploads, mostly), for progress bars
    this.onWrite = null;      // (bytesWritten) => void, after each write
    this.bufferBytes = new Map();  // handle -> size of the engine's storage buffers (weights, arenas)
    this.liveBytes = 0;
    this.peakBytes = 0;       // the most storage-buffer bytes alive at once: the device memory the engine needed
    device.lost.then((info) => {
      this.lostMessage = `the GPU device was lost (${info.reason || 'unknown reason'}): ${info.message}`;
    });
    device.onuncapturederror = (e) => {
      this.stickyError ??= new SeamError(VALIDATION, e.error.message);
    };
  }

  // Engine.serve() calls this for each seam request. Returns { status, results, message }.
  async handle(op, args, memory) {
    if (this.lostMessage) return { status: DEVICE_LOST, message: this.lostMessage };
    try {
      const result = await this.dispatch(op, args, memory);
      return { status: OK, results: result === undefined ? [] : [result] };
    } catch (e) {
      if (this.lostMessage) return { status: DEVICE_LOST, message: this.lostMessage };
      if (e instanceof SeamError) return { status: e.status, message: e.message };
      return { status: INTERNAL, message: `WebGPU host: ${e && e.stack || e}` };
    }
  }

  async dispatch(op, a, memory) {
    const view = () => new DataView(memory.buffer);
    switch (op) {
      case GET_INFO: return this.writeInfo(view(), a[0]);
      case BUFFER_CREATE: {
        const size = u64(a, 0);
        const handle = this.add(await this.scoped(() => this.device.createBuffer(
          { size, usage: STORAGE | COPY_SRC | COPY_DST })));
        this.bufferBytes.set(handle, size);
        this.liveBytes += size;
        this.peakBytes = Math.max(this.peakBytes, this.liveBytes);
        return handle;
      }
      case BUFFER_WRITE: {
        // A copy: WebGPU implementations differ on accepting views of shared memory.
        const bytes = new Uint8Array(memory.buffer, a[3], u64(a, 4)).slice();
        await this.scoped(() => this.device.queue.writeBuffer(this.get(a[0]), u64(a, 1), bytes));
        this.bytesWritten += bytes.length;
        return void this.onWrite?.(this.bytesWritten);
      }
      case BUFFER_READ: return this.read(this.get(a[0]), u64(a, 1), memory, a[3], u64(a, 4));
      case PIPELINE_CREATE: return this.add(await this.createPipeline(memory, a[0], a[1], a[2]));
      case PROGRAM_CREATE: return this.add(await this.createProgram(view(), a[0], a[1]));
      case PROGRAM_RUN: return this.run(this.get(a[0]));
      case PROGRAM_PROFILE: return this.profile(this.get(a[0]), memory, a[1]);
      case FINISH:
        await this.device.queue.onSubmittedWorkDone();
        return this.reportPendingErrors();
      case BUFFER_DESTROY:
        this.get(a[0]).destroy();
        this.liveBytes -= this.bufferBytes.get(a[0]) ?? 0;
        this.bufferBytes.delete(a[0]);
        return void this.objects.delete(a[0]);
      case PIPELINE_DESTROY: return void this.objects.delete(a[0]);
      case PROGRAM_DESTROY: this.get(a[0]).uniforms?.destroy(); return void this.objects.delete(a[0]);
      default: throw new SeamError(INTERNAL, `unknown WebGPU seam request ${op}`);
    }
  }

  add(object) {
    const handle = this.nextHandle++;
    this.objects.set(handle, object);
    return handle;
  }

  get(handle) {
    const o = this.objects.get(handle);
    if (!o) throw new SeamError(INTERNAL, `WebGPU seam: no object with handle ${handle}`);
    return o;
  }

  // Runs fn inside validation and out-of-memory error scopes and turns what they catch into a SeamError.
  async scoped(fn) {
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    let value, thrown;
    try {
      value = await fn();
    } catch (e) {
      thrown = e;
    }
    const validation = await this.device.popErrorScope();
    const oom = await this.device.popErrorScope();
    if (oom) throw new SeamError(OUT_OF_MEMORY, `GPU out of memory: ${oom.message}`);
    if (validation) throw new SeamError(VALIDATION, validation.message);
    if (thrown) {
      const rejected = ['OperationError', 'GPUPipelineError'].includes(thrown.name);
      throw new SeamError(rejected ? VALIDATION : INTERNAL, thrown.message);
    }
    return value;
  }

  writeInfo(v, ptr) {
    const l = this.device.limits, f = this.device.features;
    v.setBigUint64(ptr, BigInt(l.maxBufferSize), true);
    v.setBigUint64(ptr + 8, BigInt(l.maxStorageBufferBindingSize), true);
    const words = [l.minStorageBufferOffsetAlignment, l.minUniformBufferOffsetAlignment,
      l.maxStorageBuffersPerShaderStage, l.maxComputeWorkgroupStorageSize, l.maxComputeInvocationsPerWorkgroup,
      l.maxComputeWorkgroupSizeX, l.maxComputeWorkgroupSizeY, l.maxComputeWorkgroupsPerDimension,
      f.has('shader-f16'), f.has('subgroups'), f.has('timestamp-query'), this.adapter.info?.subgroupMinSize ?? 0,
      this.isSoftware, 0];
    words.forEach((w, i) => v.setUint32(ptr + 16 + 4 * i, Number(w), true));
    const text = new TextEncoder().encode(this.description).subarray(0, 127);
    new Uint8Array(v.buffer, ptr + 72, 128).fill(0).set(text);
  }

  async createPipeline(memory, codePtr, entryPtr, layoutPtr) {
    const v = new DataView(memory.buffer);
    const code = cString(memory, codePtr), entryPoint = cString(memory, entryPtr);
    let layoutKey = 'auto';
    if (layoutPtr) {
      const uniformBytes = v.getUint32(layoutPtr, true), count = v.getUint32(layoutPtr + 4, true);
      const access = v.getUint32(layoutPtr + 8, true);
      layoutKey = `${uniformBytes}:${Array.from({ length: count }, (_, i) => v.getUint32(access + 4 * i, true)).join('')}`;
    }
    const key = `${entryPoint}\n${layoutKey}\n${code}`;
    let record = this.pipelineCache.get(key);
    if (!record) {
      record = this.compilePipeline(code, entryPoint, layoutKey);
      this.pipelineCache.set(key, record);
      record.catch(() => this.pipelineCache.delete(key));  // a failure is reported, not remembered
    }
    return record;
  }

  // layoutKey: 'auto', or "UNIFORM_BYTES:ACCESS" with one digit per storage binding (1 read_write, 0 read-only).
  async compilePipeline(code, entryPoint, layoutKey) {
    this.pipelinesCompiled++;
    const module = this.device.createShaderModule({ code });
    const info = await module.getCompilationInfo();
    const errors = info.messages.filter((m) => m.type === 'error');
    if (errors.length) {
      const lines = code.split('\n');
      const text = errors.map((m) => `${m.lineNum}:${m.linePos}: ${m.message}\n    ${lines[m.lineNum - 1] ?? ''}`);
      throw new SeamError(VALIDATION, `WGSL of '${entryPoint}' does not compile:\n${text.join('\n')}`);
    }
    let layout = 'auto', bindGroupLayout = null;
    if (layoutKey !== 'auto') {
      const [uniformBytes, access] = layoutKey.split(':');
      const entries = Number(uniformBytes) ? [{ binding: 0, visibility: COMPUTE, buffer: { type: 'uniform' } }] : [];
      [...access].forEach((a, i) => {
        entries.push({ binding: i + 1, visibility: COMPUTE, buffer: { type: a === '1' ? 'storage' : 'read-only-storage' } });
      });
      bindGroupLayout = this.device.createBindGroupLayout({ entries });
      layout = this.device.createPipelineLayout({ bindGroupLayouts: [bindGroupLayout] });
    }
    const pipeline = await this.scoped(() => this.device.createComputePipelineAsync(
      { layout, compute: { module, entryPoint } }));
    return { pipeline, bindGroupLayout: bindGroupLayout || pipeline.getBindGroupLayout(0), entryPoint };
  }

  // Bind groups and one uniform buffer for the whole list of dispatches (wsd_gpu_dispatch, 32 bytes each).
  async createProgram(v, ptr, count) {
    const align = this.device.limits.minUniformBufferOffsetAlignment;
    const steps = [];
    let uniformBytes = 0;
    for (let i = 0; i < count; ++i) {
      const d = ptr + 32 * i;
      const uniformSize = v.getUint32(d + 16, true);
      const step = { record: this.get(v.getUint32(d, true)), bindings: [], uniformSize,
        uniformPtr: v.getUint32(d + 12, true), uniformOffset: uniformBytes,
        workgroups: [v.getUint32(d + 20, true), v.getUint32(d + 24, true), v.getUint32(d + 28, true)] };
      const bindings = v.getUint32(d + 8, true);
      for (let b = 0; b < v.getUint32(d + 4, true); ++b) {
        const e = bindings + 24 * b;
        step.bindings.push({ buffer: this.get(v.getUint32(e, true)), offset: Number(v.getBigUint64(e + 8, true)),
          size: Number(v.getBigUint64(e + 16, true)) });
      }
      if (uniformSize) uniformBytes += Math.ceil(uniformSize / align) * align;
      steps.push(step);
    }
    return this.scoped(() => {
      let uniforms = null;
      if (uniformBytes) {
        const data = new Uint8Array(uniformBytes);
        for (const s of steps) {
          if (s.uniformSize) data.set(new Uint8Array(v.buffer, s.uniformPtr, s.uniformSize), s.uniformOffset);
        }
        uniforms = this.device.createBuffer({ size: uniformBytes, usage: UNIFORM | COPY_DST });
        this.device.queue.writeBuffer(uniforms, 0, data);
      }
      const passes = steps.map((s) => {
        const entries = s.bindings.map((b, i) => ({ binding: i + 1, resource: b }));
        if (s.uniformSize) {
          entries.unshift({ binding: 0, resource: { buffer: uniforms, offset: s.uniformOffset, size: s.uniformSize } });
        }
        const bindGroup = this.device.createBindGroup({ layout: s.record.bindGroupLayout, entries,
          label: s.record.entryPoint });
        return { pipeline: s.record.pipeline, bindGroup, workgroups: s.workgroups };
      });
      return { passes, uniforms };
    });
  }

  // One command buffer, one compute pass; not awaited: errors surface at the next read or finish.
  run(program) {
    if (this.stickyError) return this.reportPendingErrors();
    const d = this.device;
    d.pushErrorScope('out-of-memory');
    d.pushErrorScope('validation');
    const encoder = d.createCommandEncoder();
    const pass = encoder.beginComputePass();
    for (const p of program.passes) {
      pass.setPipeline(p.pipeline);
      pass.setBindGroup(0, p.bindGroup);
      pass.dispatchWorkgroups(...p.workgroups);
    }
    pass.end();
    d.queue.submit([encoder.finish()]);
    const validation = d.popErrorScope(), oom = d.popErrorScope();
    this.pendingErrors.push(Promise.all([validation, oom]).then(([v, o]) => {
      if (o) this.stickyError ??= new SeamError(OUT_OF_MEMORY, `GPU out of memory while running: ${o.message}`);
      else if (v) this.stickyError ??= new SeamError(VALIDATION, v.message);
    }));
  }

  // The program once more, each dispatch in a pass of its own with timestamps written at its start and end;
  // durations in ns as u64 at `ptr` (wsd_gpu_program_profile).
  async profile(program, memory, ptr) {
    if (!this.device.features.has('timestamp-query')) {
      throw new SeamError(UNAVAILABLE, 'profiling needs the timestamp-query feature, which this GPU does not offer');
    }
    await this.reportPendingErrors();
    const chunks = [];
    await this.scoped(() => {
      const encoder = this.device.createCommandEncoder();
      for (let first = 0; first < program.passes.length; first += PROFILE_CHUNK) {
        const count = Math.min(PROFILE_CHUNK, program.passes.length - first);
        const querySet = this.device.createQuerySet({ type: 'timestamp', count: 2 * count });
        const resolve = this.device.createBuffer({ size: 16 * count, usage: QUERY_RESOLVE | COPY_SRC });
        const readBack = this.device.createBuffer({ size: 16 * count, usage: MAP_READ | COPY_DST });
        for (let j = 0; j < count; ++j) {
          const p = program.passes[first + j];
          const pass = encoder.beginComputePass({ timestampWrites:
            { querySet, beginningOfPassWriteIndex: 2 * j, endOfPassWriteIndex: 2 * j + 1 } });
          pass.setPipeline(p.pipeline);
          pass.setBindGroup(0, p.bindGroup);
          pass.dispatchWorkgroups(...p.workgroups);
          pass.end();
        }
        encoder.resolveQuerySet(querySet, 0, 2 * count, resolve, 0);
        encoder.copyBufferToBuffer(resolve, 0, readBack, 0, 16 * count);
        chunks.push({ first, count, querySet, resolve, readBack });
      }
      this.device.queue.submit([encoder.finish()]);
    });
    const out = new DataView(memory.buffer);
    for (const c of chunks) {
      await c.readBack.mapAsync(MAP_READ);
      const t = new BigUint64Array(c.readBack.getMappedRange().slice(0));
      for (let j = 0; j < c.count; ++j) {
        const ns = t[2 * j + 1] > t[2 * j] ? t[2 * j + 1] - t[2 * j] : 0n;  // some GPUs reset their counters
        out.setBigUint64(ptr + 8 * (c.first + j), ns, true);
      }
      c.readBack.destroy();
      c.resolve.destroy();
      c.querySet.destroy();
    }
  }

  async reportPendingErrors() {
    await Promise.all(this.pendingErrors.splice(0));
    const e = this.stickyError;
    this.stickyError = null;
    if (e) throw e;
  }

  async read(buffer, offset, memory, dst, size) {
    await this.reportPendingErrors();
    if (!this.staging || this.staging.size < size) {
      this.staging?.destroy();
      this.staging = await this.scoped(() => this.device.createBuffer(
        { size: Math.max(size, 1 << 20), usage: MAP_READ | COPY_DST }));
    }
    const staging = this.staging;
    await this.scoped(() => {
      const encoder = this.device.createCommandEncoder();
      encoder.copyBufferToBuffer(buffer, offset, staging, 0, size);
      this.device.queue.submit([encoder.finish()]);
    });
    try {
      await staging.mapAsync(MAP_READ, 0, size);
    } catch (e) {
      throw new SeamError(this.lostMessage ? DEVICE_LOST : INTERNAL, this.lostMessage || `read-back failed: ${e.message}`);
    }
    new Uint8Array(memory.buffer, dst, size).set(new Uint8Array(staging.getMappedRange(0, size)));
    staging.unmap();
  }
}

function cString(memory, ptr) {
  const bytes = new Uint8Array(memory.buffer, ptr);
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(bytes.slice(0, end));
}

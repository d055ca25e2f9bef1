// The io.skylark Android library (AAR): the Java API in src/main/java and the JNI library
// (libskylark_jni.so, the `skylark-android` crate) in src/main/jniLibs/<abi>/, built by cargo-ndk.
//
// Not built in this repository's CI: it needs the Android SDK and NDK, which no package registry
// here provides. CI compiles the same Java sources with javac and runs them on OpenJDK against the
// host build of the library (android/test.sh). To build the AAR on a machine with the SDK + NDK:
//
//   cargo install cargo-ndk
//   rustup target add aarch64-linux-android x86_64-linux-android
//   cd android && gradle assembleRelease      # runs cargoNdk first; AAR in build/outputs/aar/
plugins {
    id("com.android.library") version "8.7.3"
}

android {
    namespace = "io.skylark"
    compileSdk = 35

    defaultConfig {
        // AAudio-era devices; the engine itself needs only a 64-bit ABI.
        minSdk = 26
        ndk {
            abiFilters += listOf("arm64-v8a", "x86_64")
        }
        consumerProguardFiles("consumer-rules.pro")
    }

    sourceSets["main"].apply {
        java.srcDirs("src/main/java")
        jniLibs.srcDirs("src/main/jniLibs")
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_1_8
        targetCompatibility = JavaVersion.VERSION_1_8
    }
}

// libskylark_jni.so for each ABI, into src/main/jniLibs/<abi>/ (the layout Gradle packages).
val cargoNdk by tasks.registering(Exec::class) {
    description = "Builds libskylark_jni.so for arm64-v8a and x86_64 with cargo-ndk"
    workingDir = rootProject.projectDir.resolve("..")
    environment("GGML_NATIVE", "OFF")
    commandLine(
        "cargo", "ndk",
        "-t", "arm64-v8a", "-t", "x86_64",
        "--platform", "26",
        "-o", "android/src/main/jniLibs",
        "build", "--release", "--locked", "-p", "skylark-android",
    )
}

tasks.named("preBuild") {
    dependsOn(cargoNdk)
}

// Lets android/ build on its own (`cd android && gradle assembleRelease`); an app that includes
// it as a module uses its own settings instead.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}
dependencyResolutionManagement {
    repositories {
        google()
        mavenCentral()
    }
}
rootProject.name = "skylark-android"
